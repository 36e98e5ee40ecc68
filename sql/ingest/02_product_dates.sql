-- Products, step 1b: one date column of the products files typed ($column: `end_date` or
-- `launch_date`), and the first value of it that is not a date. Runs once for each such column the
-- products files carry, after 01_stage_products.sql.
--
-- Reads:  raw_products (its $column: CSV text, Parquet typed), clean_products
--         (01_stage_products.sql: $column trimmed text, an empty one NULL).
-- Writes: clean_products with $column a DATE (NULL: not given; end_date: not discontinued,
--         launch_date: launched at the first sale).
-- Returns one row: bad (rows whose $column is given but is not a date), then the first of them in
--         reading order: source_file, row (its data row in that file, header excluded), product_id,
--         value. Ingest refuses the whole products input when bad > 0.

create or replace temp table bad_product_dates as
with numbered as (
    select
        _row,
        _source_file as source_file,
        row_number() over (partition by _source_file order by _row) as file_row,
        trim(cast(product_id as varchar)) as product_id,
        nullif(trim(cast(columns(lambda c: c = $column) as varchar)), '') as value
    from raw_products
)

select _row, source_file, file_row, product_id, value
from numbered
where value is not null and try_cast(value as date) is null;

-- the other columns as they are, this one typed (its place moves: the load inserts by name)
create or replace temp table clean_products as
select
    columns(lambda c: c != $column),
    try_cast(columns(lambda c: c = $column) as date)
from clean_products;

select
    (select count(*) from bad_product_dates) as bad,
    first.source_file,
    first.file_row as row,
    first.product_id,
    first.value
from (select 1) as one
left join (select * from bad_product_dates order by _row limit 1) as first on true;
