-- Sales, step 5: every rejected row into rejected_sales with its raw text, file, row number in
-- that file (1-based, header excluded) and reason.
--
-- Reads:  checked_sales, sales_file_rows, duplicate_rows (04_reasons.sql, 05_duplicate_rows.sql).
-- Writes: rejected_sales.
-- Parameters: $ingest_id  this ingest
-- Returns the number of rejected rows.

insert into rejected_sales (
    ingest_id, source_row, date, product_id, quantity, price, promo, availability, reason, source_file
)
with rejected as (
    select _row, _source_file, raw_date, raw_product, raw_quantity, raw_price, raw_promo, raw_availability, reason
    from checked_sales
    where reason is not null
    union all
    select _row, _source_file, raw_date, raw_product, raw_quantity, raw_price, raw_promo, raw_availability, reason
    from duplicate_rows
)

select
    $ingest_id,
    r._row - f.row_offset,
    r.raw_date,
    r.raw_product,
    r.raw_quantity,
    r.raw_price,
    r.raw_promo,
    r.raw_availability,
    r.reason,
    r._source_file
from rejected as r
inner join sales_file_rows as f using (_source_file)
order by r._row;
