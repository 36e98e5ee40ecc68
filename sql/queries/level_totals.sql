-- Expected units over the whole horizon per attribute and level of the latest run's hierarchy,
-- whichever attributes it used (category > brand and color by default), with an 80% interval of
-- each total: the units are summed within each draw across the level's products and periods
-- (coherent), then their quantiles taken.
with levels as (
    select l.product_id, l.attribute, l.position, l.parents, l.level
    from run_product_levels as l
    inner join latest_run using (run_id)
),

summed as (
    select l.attribute, l.position, l.parents, l.level, d.draw, sum(d.quantity) as units
    from latest_draws as d
    inner join levels as l using (product_id)
    group by l.attribute, l.position, l.parents, l.level, d.draw
),

final as (
    select
        attribute,
        parents,   -- levels of the enclosing nested attributes (a brand's category)
        level,
        avg(units) as expected_units,  -- units over the horizon
        quantile_cont(units, 0.10) as p10,
        quantile_cont(units, 0.50) as p50,
        quantile_cont(units, 0.90) as p90
    from summed
    group by attribute, position, parents, level
    order by position, expected_units desc, level
)

select * from final;
