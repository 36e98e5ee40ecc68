-- Which products will stock out? Products whose demand over the next N periods exceeds the stock on
-- hand with more than 5% probability (so the stock does not cover demand with 95% confidence).
-- Parameters (DuckDB variables, optional):
--   set variable stockout_periods = 4;    -- periods ahead to cover [default 4]
--   set variable stock_level = 20;        -- units on hand for products missing from stock_levels [default 20]
-- Stock per product comes from the `stock_levels` table (product_id, units) when it has the product.
with horizon as (
    select distinct date
    from latest_draws
    order by date
    limit coalesce(getvariable('stockout_periods'), 4)
),

demand as (  -- units each sample path sells over the horizon
    select d.product_id, d.draw, sum(d.quantity) as units
    from latest_draws as d
    inner join horizon using (date)
    group by d.product_id, d.draw
),

stock as (
    select p.product_id, coalesce(s.units, getvariable('stock_level'), 20) as stock_units
    from products as p
    left join stock_levels as s using (product_id)
),

final as (
    select
        d.product_id,
        s.stock_units,
        avg(d.units) as expected_demand,                        -- units over the horizon
        quantile_cont(d.units, 0.95) as demand_p95,             -- units the stock must cover
        avg((d.units > s.stock_units)::int) as stockout_probability
    from demand as d
    inner join stock as s using (product_id)
    group by d.product_id, s.stock_units
    having avg((d.units > s.stock_units)::int) > 0.05
    order by stockout_probability desc, product_id
)

select * from final;
