-- Sales, step 3 (only when duplicate_keys has rows): the rows a repeated key rejects, with their
-- raw text. They passed every check, so checked_sales kept no text for them: the files are read
-- again, for just those rows.
--
-- Reads:  checked_sales, duplicate_keys (04_reasons.sql); sales_text (03_stage_sales.sql), so the
--         sales files.
-- Writes: duplicate_rows: every row of a key repeated with different quantities ('same date and
--         product twice with different quantities'), and all but the first row of a key repeated
--         with the same quantity ('duplicate row').

insert into duplicate_rows
with rejected as (
    select
        c._row,
        case when k.conflicting then 'same date and product twice with different quantities'
            else 'duplicate row' end as reason
    from checked_sales as c
    inner join duplicate_keys as k on c._key = k._key
    where c.reason is null and (k.conflicting or c._row <> k.first_row)
)

select
    s._row,
    s._source_file,
    s.raw_date,
    s.raw_product,
    s.raw_quantity,
    s.raw_price,
    s.raw_promo,
    s.raw_availability,
    r.reason
from sales_text as s
inner join rejected as r using (_row);
