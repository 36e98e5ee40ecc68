-- Views analysts and dashboards read.

-- The newest published run: the one every "latest" view reads.
create or replace view latest_run as
with final as (
    select run_id
    from forecast_runs
    where status = 'succeeded' and published
    order by created_at desc, run_id desc
    limit 1
)

select * from final;

-- The newest published run's forecasts, one row per product and period.
create or replace view latest_forecasts as
with final as (
    select f.*
    from forecasts as f
    inner join latest_run using (run_id)
)

select * from final;
