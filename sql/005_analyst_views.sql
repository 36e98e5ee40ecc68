-- Views analysts query: accuracy against later sales, the default attributes' cube of coherent
-- aggregates from the sample paths (any hierarchy's: sql/009_hierarchy_views.sql). Idempotent.

-- Stock on hand per product, for sql/queries/stockout_risk.sql (filled by the analyst; may stay empty).
create table if not exists stock_levels (
    product_id varchar primary key,
    units bigint not null  -- units on hand now
);

-- Every succeeded run's forecasts next to what sold, for the periods whose sales have arrived.
-- A period has arrived when `sales` holds any row dated on or after it; a product with no sales row
-- for an arrived period sold zero (the data contract), so actual = 0 there.
create or replace view forecast_vs_actual as
with runs as (
    select run_id, created_at
    from forecast_runs
    where status = 'succeeded'
),

arrived as (
    select max(date) as last_sales_date
    from sales
),

joined as (
    select
        f.run_id,
        r.created_at,
        f.product_id,
        f.date,
        dense_rank() over (partition by f.run_id order by f.date) as step,  -- periods ahead, 1 = first
        f.mean,
        f.p05, f.p10, f.p50, f.p90, f.p95,
        coalesce(s.quantity, 0) as actual  -- units sold
    from forecasts as f
    inner join runs as r using (run_id)
    cross join arrived as a
    left join sales as s on s.product_id = f.product_id and s.date = f.date
    where f.date <= a.last_sales_date
),

final as (
    select
        *,
        actual - mean as error,  -- units; positive: sold more than expected
        abs(actual - mean) as abs_error,
        actual between p10 and p90 as hit_80,
        actual between p05 and p95 as hit_90
    from joined
)

select * from final;

-- Draws of the newest published run, with each product's default attributes.
create or replace view latest_draws as
with final as (
    select d.run_id, d.product_id, p.category, p.brand, p.color, d.date, d.draw, d.quantity
    from forecast_draws as d
    inner join latest_run using (run_id)
    inner join products as p using (product_id)
)

select * from final;

-- Coherent totals per attribute and level of any run's hierarchy (level_forecasts), the default
-- attributes' views (category_forecasts, brand_forecasts, color_forecasts) and slices
-- (slice_forecast_by, slice_forecast): sql/009_hierarchy_views.sql.

-- The summary of summed sample paths every aggregate view gives: the mean and the forecast tables'
-- quantiles p05 ... p95 (forecast/contract/quantiles.py QUANTILES), as a struct an aggregate query
-- spreads into columns: `select date, unnest(path_summary(units)) from summed group by date`.
create or replace macro path_summary(units) as {
    'mean': avg(units),  -- expected units
    'p05': quantile_cont(units, 0.05),
    'p10': quantile_cont(units, 0.10),
    'p25': quantile_cont(units, 0.25),
    'p50': quantile_cont(units, 0.50),
    'p75': quantile_cont(units, 0.75),
    'p90': quantile_cont(units, 0.90),
    'p95': quantile_cont(units, 0.95)
};

-- Every combination of category, brand and color at once (grouping sets of the cube); a NULL key
-- with its `all_*` flag true means "all". E.g. category and color, any brand:
--   select * from attribute_forecasts where not all_category and all_brand and not all_color
create or replace view attribute_forecasts as
with summed as (
    select
        category,
        brand,
        color,
        grouping(category) = 1 as all_category,
        grouping(brand) = 1 as all_brand,
        grouping(color) = 1 as all_color,
        date,
        draw,
        sum(quantity) as units
    from latest_draws
    group by grouping sets (
        (date, draw),
        (category, date, draw), (brand, date, draw), (color, date, draw),
        (category, brand, date, draw), (category, color, date, draw), (brand, color, date, draw),
        (category, brand, color, date, draw)
    )
),

final as (
    select
        category, brand, color, all_category, all_brand, all_color,
        date,
        unnest(path_summary(units))  -- mean, p05 ... p95
    from summed
    group by category, brand, color, all_category, all_brand, all_color, date
)

select * from final;
