-- The event calendar (holidays, sales, season openings), loaded by `demand-forecast ingest --events`.
-- Idempotent. The forecast reads it as event features with lead and lag windows
-- (forecast/prep/events.py); when it is empty, the `holiday_country` option's public holidays stand in.

create table if not exists events (
    date date not null,      -- the day of the event (an event of several days: a row per day)
    event varchar not null,  -- its name; the same name in other years is the same event (one effect)
    region varchar,          -- where it holds; null: everywhere (the model reads every row, any region)
    ingest_id varchar not null  -- ingest_log row that loaded it
    -- One row per (date, event, region): ingest adds only rows not already present.
);
