-- Products, step 1: the products files' rows cleaned, and what would refuse them.
--
-- Reads:  raw_products, the temp table the reader fills (forecast/storage/input_files.py): every
--         row of the new products files, columns _row, _source_file, product_id and the files'
--         attribute columns (CSV: text; Parquet: typed).
-- Writes: temp table clean_products: product_id trimmed; each attribute trimmed text, an empty
--         one NULL (an empty CSV field reads as '', see _NO_NULL: unknown, like a Parquet null).
-- Returns one row: rows (data rows read), blank_ids (rows with an empty product_id),
--         conflicting_ids (up to 3 product_ids given different attributes, sorted). Ingest
--         refuses the whole products input when rows = 0, blank_ids > 0 or conflicting_ids is
--         not empty, in that order.

create or replace temp table clean_products as
select
    trim(cast(product_id as varchar)) as product_id,
    nullif(trim(cast(columns(* exclude (_row, _source_file, product_id)) as varchar)), '')
from raw_products;

with conflicting as (
    -- the whole row as one value: its product_id is the group's, so it differs only by attributes
    select product_id
    from clean_products as c
    group by product_id
    having count(distinct c) > 1
)

select
    (select count(*) from clean_products) as rows,
    (select count(*) from clean_products where coalesce(product_id, '') = '') as blank_ids,
    (select coalesce(list(product_id order by product_id)[1:3], []) from conflicting) as conflicting_ids;
