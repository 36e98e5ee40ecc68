-- Products, step 2: the cleaned products into `products`, one row per product_id.
--
-- Reads:  clean_products (01_stage_products.sql), checked: no empty ids, no conflicts.
-- Writes: products: a new product is added, a known one gets the files' attributes (columns the
--         files do not have keep their values). Ingest adds an attribute column `products` lacks
--         before this runs.

insert or replace into products by name
select distinct on (product_id) *
from clean_products;
