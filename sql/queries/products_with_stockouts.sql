-- Products forecast with stock-outs in their history: the latest run read their out-of-stock periods
-- (availability under 1) as lower bounds on demand, so their forecasts are of demand and may run
-- above what they used to sell. Per product: the periods out of stock and the units sold then,
-- the lowest availability, the last stock-out, and the latest run's horizon total and 90% quantile.
with flagged as (
    select
        product_id,
        sum(mean) as expected_units,    -- the whole horizon
        max(p90) as max_p90,            -- the highest period's 90% quantile
        count(*) as periods
    from latest_forecasts
    where had_stockouts
    group by product_id
),

stockouts as (
    select
        s.product_id,
        count(*) as periods_out_of_stock,
        sum(s.quantity) as units_sold_then,   -- lower bounds on demand in those periods
        min(s.availability) as lowest_availability,
        max(s.date) as last_stockout
    from sales as s
    semi join flagged using (product_id)
    where s.availability < 1
    group by s.product_id
),

final as (
    select
        f.product_id,
        o.periods_out_of_stock,
        o.units_sold_then,
        o.lowest_availability,
        o.last_stockout,
        f.periods,
        f.expected_units,
        f.max_p90
    from flagged as f
    left join stockouts as o using (product_id)
    order by o.periods_out_of_stock desc nulls last, f.product_id
)

select * from final;
