-- Sales, step 4, when `sales` has rows (else 06_insert_sales.sql): an accepted row whose
-- (date, product) is loaded with different values replaces it, the old values going to
-- sales_history; an accepted row with a new (date, product) is added; an identical one changes
-- nothing (a re-sent file is a no-op).
--
-- Reads:  accepted_sales (04_reasons.sql); sales.
-- Writes: temp table replaced_sales (the old row and its new values); sales_history; sales.
-- Parameters: $ingest_id  this ingest (sales_history.replaced_by, sales.ingest_id)
--             $now        UTC time of the correction (sales_history.replaced_at)
-- Returns the number of replaced rows.

create or replace temp table replaced_sales as
select
    s.date,
    s.product_id,
    s.quantity,
    s.price,
    s.promo,
    s.availability,
    s.ingest_id,
    n.quantity as new_quantity,
    n.price as new_price,
    n.promo as new_promo,
    n.availability as new_availability
from sales as s
inner join accepted_sales as n using (date, product_id)
where
    s.quantity <> n.quantity
    or s.price is distinct from n.price
    or s.promo is distinct from n.promo
    or s.availability is distinct from n.availability;

insert into sales_history (
    date, product_id, quantity, price, promo, ingest_id, replaced_by, replaced_at, availability
)
select date, product_id, quantity, price, promo, ingest_id, $ingest_id, $now, availability
from replaced_sales;

update sales set
    quantity = r.new_quantity,
    price = r.new_price,
    promo = r.new_promo,
    availability = r.new_availability,
    ingest_id = $ingest_id
from replaced_sales as r
where sales.date = r.date and sales.product_id = r.product_id;

insert into sales (date, product_id, quantity, price, promo, ingest_id, availability)
select n.date, n.product_id, n.quantity, n.price, n.promo, $ingest_id, n.availability
from accepted_sales as n
where not exists (select 1 from sales as s where s.date = n.date and s.product_id = n.product_id);

select count(*) as replaced from replaced_sales;
