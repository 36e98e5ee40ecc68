-- Sales, step 1: every input row as text and as typed values. Views only: the files are read when
-- 04_reasons.sql creates checked_sales from them, once.
--
-- Reads:  raw_sales, the temp view the reader defines (forecast/storage/input_files.py,
--         raw_sales_view): one row per data row of the sales files in reading order, columns
--           _row          1, 2, ... across the files, in file order (the same on every read)
--           _source_file  the file's path
--           _padded       true for a CSV row with fewer fields than its header (DuckDB padded it)
--           date, product_id, quantity, price, promo, availability   as read: CSV text, Parquet
--                         typed; price, promo and availability NULL where no file has them
-- Writes: variable ingest_decimal_comma; temp views sales_text (raw text), typed_sales (typed).
-- Parameters: $decimal_comma  true: numbers may use a decimal comma ("1,5" is 1.5), as files with
--         a semicolon or tab delimiter do.

set variable ingest_decimal_comma = $decimal_comma;

create or replace temp view sales_text as
select
    _row,
    _source_file,
    _padded as truncated,
    cast(date as varchar) as raw_date,
    cast(product_id as varchar) as raw_product,
    cast(quantity as varchar) as raw_quantity,
    cast(price as varchar) as raw_price,
    cast(promo as varchar) as raw_promo,
    cast(availability as varchar) as raw_availability
from raw_sales;

-- Casts skip ASCII whitespace themselves; trim (which also strips Unicode spaces) runs only when
-- the plain cast fails, so the values are those of try_cast(trim(x)) at a fraction of the cost.
-- NULL where a value does not parse: 04_reasons.sql says why.
create or replace temp view typed_sales as
select
    *,
    coalesce(try_cast(raw_date as date), try_cast(trim(raw_date) as date)) as date,
    trim(raw_product) as product_id,
    coalesce(
        try_cast(raw_quantity as double),
        try_cast(
            if(getvariable('ingest_decimal_comma'), replace(trim(raw_quantity), ',', '.'), trim(raw_quantity))
            as double
        )
    ) as q,
    coalesce(
        try_cast(raw_price as double),
        try_cast(if(getvariable('ingest_decimal_comma'), replace(trim(raw_price), ',', '.'), trim(raw_price)) as double)
    ) as price,
    case raw_promo when '1' then true when '0' then false else
        case lower(trim(raw_promo))
            when '1' then true when 'true' then true when 'yes' then true
            when '0' then false when 'false' then false when 'no' then false
            when '' then null
        end
    end as promo,
    coalesce(
        try_cast(raw_availability as double),
        try_cast(
            if(
                getvariable('ingest_decimal_comma'),
                replace(trim(raw_availability), ',', '.'),
                trim(raw_availability)
            ) as double
        )
    ) as availability
from sales_text;
