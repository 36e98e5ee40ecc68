-- Input data, loaded by `demand-forecast ingest`. Idempotent: safe to run on every connection.

create table if not exists products (
    product_id varchar primary key,
    category varchar,   -- default nested attribute (outermost)
    brand varchar,      -- default nested attribute, inside category
    color varchar,      -- default crossed attribute
    end_date date,      -- not an attribute: the last date a discontinued product is sold; null: on sale
    launch_date date    -- not an attribute: the first date the product was on sale; null: from its first sale
    -- further attribute columns are added by ingest when a products file carries them
);

-- A database created before products had an end date.
alter table products add column if not exists end_date date;

-- A database created before products had a launch date.
alter table products add column if not exists launch_date date;

create table if not exists sales (
    date date not null,          -- period start (day, week, month or quarter)
    product_id varchar not null,
    quantity bigint not null,    -- units sold in the period, >= 0
    price double,                -- selling price per unit, currency of the file; null: unknown
    promo boolean,               -- on promotion in the period; null: unknown (treated as no)
    ingest_id varchar not null,  -- ingest_log row that loaded it
    availability double          -- in-stock share of the period, 0..1; under 1: censored demand (the
                                 -- units sold are a lower bound); null: no such column (in stock)
    -- One row per (date, product_id): ingest guarantees it (it rejects repeated keys in its input and
    -- replaces an existing row instead of adding one). No PRIMARY KEY: its index cost more than all
    -- the validation (benchmarks/README.md, "Data layer"). A database created with the key keeps it
    -- (DuckDB cannot drop a constraint); ingest works the same either way.
);

-- A database created before sales had an availability column (ingest writes sales by column name).
alter table sales add column if not exists availability double;

create table if not exists rejected_sales (
    ingest_id varchar not null,
    source_row bigint not null,  -- 1-based data row number in the file (header excluded)
    date varchar,                -- raw values as they came in
    product_id varchar,
    quantity varchar,
    price varchar,
    promo varchar,
    reason varchar not null
);

-- Rejected rows keep their availability as given too (a database created before it gains the column).
alter table rejected_sales add column if not exists availability varchar;

create table if not exists ingest_log (
    ingest_id varchar primary key,
    ingested_at timestamp not null,
    sales_file varchar not null,
    products_file varchar not null,
    fingerprint varchar not null,  -- sha256 of both files' bytes
    products_read bigint not null,
    rows_read bigint not null,
    rows_loaded bigint not null,
    rows_rejected bigint not null
);
