-- Sales, step 4, when `sales` is empty (else 06_merge_sales.sql): the accepted rows into `sales`.
-- Nothing to correct and no key to look up, so no join with `sales`.
--
-- Reads:  accepted_sales (04_reasons.sql).
-- Writes: sales.
-- Parameters: $ingest_id  this ingest
-- Returns the number of replaced rows: 0.

insert into sales (date, product_id, quantity, price, promo, ingest_id, availability)
select date, product_id, quantity, price, promo, $ingest_id, availability
from accepted_sales;

select 0 as replaced;
