-- How accurate were the runs of the last month? Per run created in the last 31 days, over the periods
-- whose sales have arrived (see the forecast_vs_actual view): mean absolute error and bias in units,
-- and how often the actual fell inside the 80% and 90% intervals (should be about 0.8 and 0.9).
with recent as (
    select *
    from forecast_vs_actual
    where created_at >= current_date - interval 31 day
),

final as (
    select
        run_id,
        min(created_at) as created_at,
        count(*) as forecasts_checked,
        avg(abs_error) as mae,            -- units
        avg(error) as bias,               -- units; positive: demand was underestimated
        avg(hit_80::int) as coverage_80,
        avg(hit_90::int) as coverage_90
    from recent
    group by run_id
    order by created_at desc
)

select * from final;
