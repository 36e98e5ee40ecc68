-- Expected demand of new products by brand: products with fewer than N weeks (periods) of sales
-- history, none included, summed per draw across a brand's new products over the whole horizon, so
-- the interval is that of the brand's total (coherent).
-- Parameter: set variable new_periods = 8;  -- "new" means fewer periods with sales [default 8]
with history as (
    select p.product_id, count(s.date) as periods
    from products as p
    left join sales as s using (product_id)
    group by p.product_id
),

new_products as (
    select product_id
    from history
    where periods < coalesce(getvariable('new_periods'), 8)
),

summed as (
    select d.category, d.brand, d.draw, count(distinct d.product_id) as products, sum(d.quantity) as units
    from latest_draws as d
    inner join new_products using (product_id)
    group by d.category, d.brand, d.draw
),

final as (
    select
        category,
        brand,
        max(products) as new_products,
        avg(units) as expected_units,  -- units over the horizon
        quantile_cont(units, 0.10) as p10,
        quantile_cont(units, 0.50) as p50,
        quantile_cont(units, 0.90) as p90
    from summed
    group by category, brand
    order by expected_units desc, category, brand
)

select * from final;
