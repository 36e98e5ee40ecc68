-- Per-file ingest bookkeeping and the history of corrected sales. Idempotent.

-- One row per input file an ingest loaded: the fingerprint makes re-ingesting a file a no-op.
create table if not exists ingest_files (
    ingest_id varchar not null,     -- ingest_log row that read the file
    kind varchar not null,          -- sales | products
    path varchar not null,          -- the path as given (a later copy elsewhere has the same fingerprint)
    fingerprint varchar not null,   -- sha256 of the file's bytes (the name does not count)
    bytes bigint not null,          -- file size, bytes
    rows_read bigint not null,      -- data rows in the file (header excluded)
    primary key (kind, fingerprint)
);

-- Sales rows a later file corrected: the replaced values, who loaded them and who replaced them.
create table if not exists sales_history (
    date date not null,             -- period start
    product_id varchar not null,
    quantity bigint not null,       -- units sold, as first loaded
    price double,                   -- selling price per unit, as first loaded
    promo boolean,
    ingest_id varchar not null,     -- ingest that loaded the replaced row
    replaced_by varchar not null,   -- ingest whose file corrected it
    replaced_at timestamp not null  -- UTC
);

-- The replaced row's availability (a database created before sales had one gains the column).
alter table sales_history add column if not exists availability double;

-- Which file a rejected row came from (an ingest can read several files).
alter table rejected_sales add column if not exists source_file varchar;

-- Who writes a run: lets a later run tell an interrupted run (process gone) from a live one.
alter table forecast_runs add column if not exists writer_pid integer;
alter table forecast_runs add column if not exists writer_host varchar;
