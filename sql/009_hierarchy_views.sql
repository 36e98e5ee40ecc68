-- Coherent aggregates by whatever attributes a run's hierarchy used: `--nested category,brand
-- --crossed color` (the default) or `--nested region,store --crossed size`, or any other. Each run's
-- hierarchy comes from the configuration stored with it (forecast_runs.config), the products'
-- attributes from the `products` table in long form. Idempotent.

-- Every attribute of every product, one row per product and attribute column of `products` that
-- holds a value (ingest adds a column for each attribute a products file carries); `end_date` and
-- `launch_date` are not attributes (when a product is discontinued, launched) and are left out:
--   select * from product_attributes where attribute = 'size'
create or replace view product_attributes as
with long as (
    unpivot (select product_id, columns(* exclude (product_id, end_date, launch_date))::varchar from products)
    on columns(* exclude (product_id))
    into name attribute value level
),

final as (
    select product_id, attribute, level
    from long
)

select * from final;

-- Each run's hierarchy, one row per attribute: nested ones outermost first, then the crossed ones.
-- A run recorded without a hierarchy in its configuration ran the default one.
create or replace view run_hierarchy as
with configs as (
    select
        run_id,
        json_exists(config, '$.hierarchy') as stated,
        json_extract_string(config, '$.hierarchy.nested[*]') as nested,
        json_extract_string(config, '$.hierarchy.crossed[*]') as crossed
    from forecast_runs
),

lists as (
    select
        run_id,
        case when stated then nested else ['category', 'brand'] end as nested,
        case when stated then crossed else ['color'] end as crossed
    from configs
),

final as (
    select
        run_id,
        unnest(nested) as attribute,
        'nested' as kind,                            -- nested | crossed
        generate_subscripts(nested, 1) as position   -- 1 = outermost nested attribute
    from lists
    union all
    select run_id, unnest(crossed), 'crossed', len(nested) + generate_subscripts(crossed, 1)
    from lists
)

select * from final;

-- Per run, every product's level of each attribute of the run's hierarchy; NULL where the product has
-- no value. `parents`: the product's levels of the nested attributes enclosing this one, outermost
-- first (empty for the outermost and for crossed ones): brands nest in categories, so a brand name
-- reused in two categories is two groups, as in the model.
create or replace view run_product_levels as
with levels as (
    select h.run_id, p.product_id, h.attribute, h.kind, h.position, a.level
    from run_hierarchy as h
    cross join products as p
    left join product_attributes as a
        on a.product_id = p.product_id and lower(a.attribute) = lower(h.attribute)
),

final as (
    select
        run_id,
        product_id,
        attribute,
        kind,
        position,
        level,
        case
            when kind = 'nested' then coalesce(
                list(level) over (
                    partition by run_id, product_id, kind
                    order by position
                    rows between unbounded preceding and 1 preceding
                ),
                []
            )
            else []
        end as parents
    from levels
)

select * from final;

-- Coherent totals per run, attribute of its hierarchy and level: every product's units summed within
-- each draw (one joint sample path), then the mean and quantiles of those sums. Summing product
-- quantiles instead would overstate the spread. Each attribute's levels partition the run's products,
-- so their totals add up to the whole catalog's within every draw. For the runs in the list `runs`:
--   select * from level_forecasts_of(['20261123T060000-a1b2c3']) where attribute = 'size'
create or replace macro level_forecasts_of(runs) as table
with picked_runs as (
    select unnest(runs) as run_id
),

groups as (  -- each run's groups, numbered: the draws are summed by number, labelled after
    select
        l.run_id,
        l.product_id,
        l.attribute,
        l.position,
        l.parents,
        l.level,
        dense_rank() over (partition by l.run_id, l.attribute order by l.parents, l.level) as group_id
    from run_product_levels as l
    semi join picked_runs using (run_id)
),

summed as (
    select
        d.run_id,
        g.attribute,
        g.group_id,
        d.date,
        d.draw,
        count(*) as products,
        sum(d.quantity) as units
    from forecast_draws as d
    semi join picked_runs using (run_id)
    inner join groups as g using (run_id, product_id)
    group by d.run_id, g.attribute, g.group_id, d.date, d.draw
),

quantiles as (
    select
        run_id,
        attribute,
        group_id,
        date,
        max(products) as products,
        avg(units) as mean,
        quantile_cont(units, [0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95]) as q
    from summed
    group by run_id, attribute, group_id, date
),

labels as (
    select distinct run_id, attribute, position, parents, level, group_id
    from groups
),

final as (
    select
        l.run_id,
        l.attribute,
        l.position,      -- the attribute's place in the run's hierarchy, 1 = outermost nested
        l.parents,       -- levels of the enclosing nested attributes, outermost first
        l.level,
        q.date,
        q.products,      -- products of the run at this level
        q.mean,          -- expected units
        q.q[1] as p05,
        q.q[2] as p10,
        q.q[3] as p25,
        q.q[4] as p50,
        q.q[5] as p75,
        q.q[6] as p90,
        q.q[7] as p95
    from quantiles as q
    inner join labels as l using (run_id, attribute, group_id)
)

select * from final;

-- Every run's aggregates, and the newest published run's. E.g. the latest run's sizes:
--   select * from latest_level_forecasts where attribute = 'size' order by level, date
create or replace view level_forecasts as
select * from level_forecasts_of((select list(run_id) from forecast_runs));

create or replace view latest_level_forecasts as
select * from level_forecasts_of((select list(run_id) from latest_run));

-- The default hierarchy's aggregates under their own names: thin filters over the generic view (no
-- rows when the latest run did not use the attribute).
create or replace view category_forecasts as
with final as (
    select level as category, date, mean, p05, p10, p25, p50, p75, p90, p95
    from latest_level_forecasts
    where lower(attribute) = 'category'
)

select * from final;

create or replace view brand_forecasts as
with final as (
    select parents[1] as category, level as brand, date, mean, p05, p10, p25, p50, p75, p90, p95
    from latest_level_forecasts
    where lower(attribute) = 'brand'
)

select * from final;

create or replace view color_forecasts as
with final as (
    select level as color, date, mean, p05, p10, p25, p50, p75, p90, p95
    from latest_level_forecasts
    where lower(attribute) = 'color'
)

select * from final;

-- Any slice of the catalog by attribute/level pairs, coherent: the products holding every pair, their
-- units summed within each draw. Any attribute column of `products` works, in the run's hierarchy or
-- not; an empty map picks the whole catalog; `run` (default: the latest published run) picks a run:
--   select * from slice_forecast_by(map {'region': 'north', 'size': 'L'})
--   select * from slice_forecast_by(map {}, run := '20261123T060000-a1b2c3')
create or replace macro slice_forecast_by(picks, run := null) as table
with wanted as (
    select unnest(map_keys(picks))::varchar as attribute, unnest(map_values(picks))::varchar as level
),

members as (
    select a.product_id
    from product_attributes as a
    inner join wanted as w on lower(a.attribute) = lower(w.attribute) and a.level = w.level
    group by a.product_id
    having count(*) = (select count(*) from wanted)
),

picked as (
    select d.date, d.draw, d.quantity
    from forecast_draws as d
    where d.run_id = coalesce(run, (select run_id from latest_run))
        and (
            (select count(*) from wanted) = 0
            or d.product_id in (select product_id from members)
        )
),

summed as (
    select date, draw, count(*) as products, sum(quantity) as units
    from picked
    group by date, draw
),

final as (
    select
        date,
        max(products) as products,    -- products in the slice
        unnest(path_summary(units))   -- mean, p05 ... p95 (sql/005)
    from summed
    group by date
    order by date
)

select * from final;

-- The default attributes' slice, by name; NULL (the default) means any:
--   select * from slice_forecast(category := 'tops', color := 'red')
create or replace macro slice_forecast(category := null, brand := null, color := null) as table
select *
from slice_forecast_by(
    map_from_entries(
        list_filter(
            [{'k': 'category', 'v': category}, {'k': 'brand', 'v': brand}, {'k': 'color', 'v': color}],
            lambda x: x.v is not null
        )
    )
);
