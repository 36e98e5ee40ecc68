-- How a run's forecasts moved against an earlier run's: per product, the expected units summed over
-- each run's horizon, largest absolute change first. The scheduled pipeline compares every new run
-- with the previous published one:
--   select * from forecast_changes('20261123T060000-a1b2c3', '20261116T060000-d4e5f6')
-- A product only in the new run has previous_total NULL (change = its new total); one only in the
-- old run has new_total NULL.
create or replace macro forecast_changes(new_run, old_run) as table
with totals as (
    select run_id, product_id, sum(mean) as total, count(*) as periods
    from forecasts
    where run_id = new_run or run_id = old_run
    group by run_id, product_id
),

new_totals as (
    select product_id, total, periods
    from totals
    where run_id = new_run
),

old_totals as (
    select product_id, total, periods
    from totals
    where run_id = old_run
),

final as (
    select
        coalesce(n.product_id, o.product_id) as product_id,
        p.category,
        p.brand,
        p.color,
        o.total as previous_total,                              -- expected units over the old horizon
        n.total as new_total,                                   -- expected units over the new horizon
        coalesce(n.total, 0) - coalesce(o.total, 0) as change,  -- units
        (n.total - o.total) / nullif(o.total, 0) as change_ratio,  -- 0.25: up by a quarter
        o.periods as previous_periods,
        n.periods as new_periods
    from new_totals as n
    full outer join old_totals as o on n.product_id = o.product_id
    left join products as p on p.product_id = coalesce(n.product_id, o.product_id)
)

select * from final
order by abs(change) desc, product_id;

-- The database's identity, made once when the schema is first applied: the scheduled pipeline keys
-- its ingest cache on it, so a new (or recreated) database loads every inbox file again.
create table if not exists database_info (
    database_id varchar not null,   -- random, never changes
    created_at timestamp not null   -- UTC
);

insert into database_info
select gen_random_uuid()::varchar, (now() at time zone 'UTC')::timestamp
where not exists (select 1 from database_info);
