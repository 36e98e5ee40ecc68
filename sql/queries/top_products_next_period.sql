-- Which products will sell the most next period, with an 80% interval?
with next_period as (
    select min(date) as date from latest_forecasts
),

final as (
    select f.product_id, p.category, p.brand, f.mean, f.p10, f.p50, f.p90
    from latest_forecasts as f
    inner join next_period using (date)
    inner join products as p using (product_id)
    order by f.mean desc
    limit 10
)

select * from final;
