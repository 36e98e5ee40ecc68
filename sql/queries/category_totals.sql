-- Expected units per category over the whole horizon, from the latest run.
with by_category as (
    select p.category, count(distinct f.product_id) as products, sum(f.mean) as expected_units
    from latest_forecasts as f
    inner join products as p using (product_id)
    group by p.category
),

final as (
    select * from by_category order by expected_units desc
)

select * from final;
