-- Views analysts and dashboards read.

-- The newest published run's forecasts, one row per product and period.
create or replace view latest_forecasts as
with latest as (
    select run_id
    from forecast_runs
    where status = 'succeeded' and published
    order by created_at desc, run_id desc
    limit 1
),

final as (
    select f.*
    from forecasts as f
    inner join latest using (run_id)
)

select * from final;
