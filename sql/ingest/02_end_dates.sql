-- Products, step 1b: the products files' end dates typed, and the first one that is not a date.
-- Runs only when the products files carry an `end_date` column, after 01_stage_products.sql.
--
-- Reads:  raw_products (its end_date column: CSV text, Parquet typed), clean_products
--         (01_stage_products.sql: end_date trimmed text, an empty one NULL).
-- Writes: clean_products with end_date a DATE (NULL: not discontinued).
-- Returns one row: bad (rows whose end_date is given but is not a date), then the first of them in
--         reading order: source_file, row (its data row in that file, header excluded), product_id,
--         value. Ingest refuses the whole products input when bad > 0.

create or replace temp table bad_end_dates as
with numbered as (
    select
        _row,
        _source_file as source_file,
        row_number() over (partition by _source_file order by _row) as file_row,
        trim(cast(product_id as varchar)) as product_id,
        nullif(trim(cast(end_date as varchar)), '') as value
    from raw_products
)

select _row, source_file, file_row, product_id, value
from numbered
where value is not null and try_cast(value as date) is null;

create or replace temp table clean_products as
select * replace (try_cast(end_date as date) as end_date)
from clean_products;

select
    (select count(*) from bad_end_dates) as bad,
    first.source_file,
    first.file_row as row,
    first.product_id,
    first.value
from (select 1) as one
left join (select * from bad_end_dates order by _row limit 1) as first on true;
