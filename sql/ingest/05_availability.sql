-- Sales, step 2b: the first availability that is not an in-stock share from 0 to 1. Runs only when
-- the sales files carry an `availability` column, after 04_reasons.sql.
--
-- Reads:  checked_sales (04_reasons.sql: bad_availability, raw_availability kept for those rows),
--         sales_file_rows (each file's row offset).
-- Writes: nothing.
-- Returns one row: bad (rows whose availability is given but is not a number from 0 to 1:
--         negative, over 1, or not a number), then the first of them in reading order:
--         source_file, row (its data row in that file, header excluded), product_id, date, value.
--         Ingest refuses the whole input when bad > 0: a stock figure that cannot be right says the
--         file is not what it seems, and a row-level rejection would load the rest as if it were.

with bad as (
    select c._row, c._source_file, c.product_id, c.date, c.raw_availability
    from checked_sales as c
    where c.bad_availability
),

first as (
    select
        b._source_file as source_file,
        b._row - f.row_offset as file_row,
        b.product_id,
        cast(b.date as varchar) as date,
        b.raw_availability as value
    from bad as b
    inner join sales_file_rows as f using (_source_file)
    order by b._row
    limit 1
)

select
    (select count(*) from bad) as bad,
    first.source_file,
    first.file_row as row,
    first.product_id,
    first.date,
    first.value
from (select 1) as one
left join first on true;
