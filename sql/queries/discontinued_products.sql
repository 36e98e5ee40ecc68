-- Discontinued products: those with an end_date (the last date sold), their last sale, and the
-- latest run's horizon totals before and after the end date. After it the forecast is 0 in every
-- period (the product's sample paths are 0 there), so `units_after_end` is 0 for every row.
with discontinued as (
    select product_id, end_date
    from products
    where end_date is not null
),

last_sales as (
    select s.product_id, max(s.date) filter (where s.quantity > 0) as last_sale, max(s.date) as last_row
    from sales as s
    semi join discontinued using (product_id)
    group by s.product_id
),

horizon as (
    select
        f.product_id,
        count(*) as periods,
        count(*) filter (where f.date > d.end_date) as periods_after_end,
        sum(f.mean) as expected_units,                                        -- the whole horizon
        coalesce(sum(f.mean) filter (where f.date > d.end_date), 0) as units_after_end,  -- always 0
        coalesce(max(f.p95) filter (where f.date > d.end_date), 0) as p95_after_end      -- always 0
    from latest_forecasts as f
    inner join discontinued as d using (product_id)
    group by f.product_id
),

final as (
    select
        d.product_id,
        d.end_date,
        l.last_sale,          -- last period with units sold; null: never sold
        l.last_row,           -- last period with a sales row (a zero row may follow the last sale)
        h.periods,            -- forecast periods of the latest run; null: not in it
        h.periods_after_end,
        h.expected_units,
        h.units_after_end,
        h.p95_after_end
    from discontinued as d
    left join last_sales as l using (product_id)
    left join horizon as h using (product_id)
    order by d.end_date, d.product_id
)

select * from final;
