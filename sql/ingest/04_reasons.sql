-- Sales, step 2: each row's first failed check (its rejection reason), and the repeated keys.
--
-- Reads:  typed_sales (03_stage_sales.sql), so the sales files, once; products.
-- Writes: temp tables
--           product_keys    products numbered (a rowid can exceed 32 bits inside a transaction)
--           checked_sales   one row per input row: _row, _source_file, _key, the typed values,
--                           reason (NULL: passed every check) and the raw text, kept only for
--                           rejected rows (a valid row's raw_* are NULL); bad_availability (an
--                           availability given that is not a number from 0 to 1: the whole
--                           input is refused, 05_availability.sql, so it is no row's reason)
--                           with its raw text kept
--           sales_file_rows per file: rows_read, row_offset (its first _row - 1)
--           duplicate_keys  per (date, product) repeated among valid rows: conflicting (the
--                           quantities differ), first_row
--           duplicate_rows  empty; 05_duplicate_rows.sql fills it when duplicate_keys has rows
--         temp view accepted_sales: the rows that load (valid; of a key repeated with the same
--           quantity, the first row; a key repeated with different quantities loads none).
--
-- One reason per row: the first check it fails, in the order of the case below.

create or replace temp table product_keys as
select product_id, row_number() over () as n
from products;

create or replace temp table checked_sales as
with reasoned as (
    select
        t.*,
        case
            when t.truncated then 'truncated row: fewer fields than the header'
            when t.date is null then
                case when t.raw_date is null or trim(t.raw_date) = '' then 'missing date'
                    else 'unparsable date' end
            when t.product_id is null or t.product_id = '' then 'missing product_id'
            when t.q is null or isnan(t.q) or isinf(t.q) then
                case when t.raw_quantity is null or trim(t.raw_quantity) = '' then 'missing quantity'
                    else 'non-numeric quantity' end
            when t.q < 0 then 'negative quantity'
            when t.q <> floor(t.q) then 'fractional quantity'
            when t.price is null and t.raw_price is not null and trim(t.raw_price) <> ''
                then 'non-numeric price'
            when t.price <= 0 or isnan(t.price) or isinf(t.price) then 'non-positive price'
            when t.promo is null and t.raw_promo is not null and trim(t.raw_promo) <> ''
                then 'unparsable promo (expected 0/1/true/false)'
            when p.product_id is null then 'product not in the products file'
        end as reason,
        t.raw_availability is not null and trim(t.raw_availability) <> '' and (
            t.availability is null or isnan(t.availability) or t.availability < 0 or t.availability > 1
        ) as bad_availability,
        -- one integer per (date, product): the product's number and the day, 32 bits each
        (p.n << 32) + (t.date - date '1970-01-01' + 2147483648) as _key
    from typed_sales as t
    left join product_keys as p on p.product_id = t.product_id
)

select
    _row,
    _source_file,
    _key,
    date,
    product_id,
    case when reason is null then cast(q as bigint) end as quantity,
    price,
    coalesce(promo, false) as promo,
    availability,
    coalesce(bad_availability, false) as bad_availability,
    reason,
    case when reason is not null then raw_date end as raw_date,
    case when reason is not null then raw_product end as raw_product,
    case when reason is not null then raw_quantity end as raw_quantity,
    case when reason is not null then raw_price end as raw_price,
    case when reason is not null then raw_promo end as raw_promo,
    case when reason is not null or bad_availability then raw_availability end as raw_availability
from reasoned;

create or replace temp table sales_file_rows as
select _source_file, count(*) as rows_read, min(_row) - 1 as row_offset
from checked_sales
group by _source_file;

-- Repeated keys by sorting one integer with lag, not by hashing every key; details only for those.
create or replace temp table duplicate_keys as
with valid as (
    select _key, lag(_key) over (order by _key) as previous
    from checked_sales
    where reason is null
),

repeated as (
    select distinct _key from valid where _key = previous
)

select _key, min(quantity) <> max(quantity) as conflicting, min(_row) as first_row
from checked_sales
where reason is null and _key in (select _key from repeated)
group by _key;

create or replace temp table duplicate_rows (
    _row bigint,
    _source_file varchar,
    raw_date varchar,
    raw_product varchar,
    raw_quantity varchar,
    raw_price varchar,
    raw_promo varchar,
    raw_availability varchar,
    reason varchar
);

create or replace temp view accepted_sales as
select c.date, c.product_id, c.quantity, c.price, c.promo, c.availability
from checked_sales as c
left join duplicate_keys as k on c._key = k._key
where c.reason is null and (k._key is null or (not k.conflicting and c._row = k.first_row));
