-- Events, step 1: the events files' rows typed, and the first row that is not an event.
-- Runs only when ingest is given events files; they must have `date` and `event` columns (checked
-- before), `region` is optional.
--
-- Reads:  raw_events, the temp table the reader fills (forecast/storage/input_files.py): every
--         row of the new events files, columns _row, _source_file, date, event and region (CSV:
--         text; Parquet: typed; region NULL where no file has it).
-- Writes: temp table clean_events: date a DATE, event and region trimmed text (an empty region NULL),
--         one row per distinct (date, event, region).
-- Returns one row: rows (data rows read), bad (rows whose date is not a date or whose event is
--         empty), then the first bad row in reading order: source_file, row (its data row in that
--         file, header excluded), problem ('empty date', 'not a date', 'empty event'), value (its
--         date as written). Ingest refuses the whole input when rows = 0 or
--         bad > 0: nothing of it is loaded.

create or replace temp table typed_events as
select
    _row,
    _source_file as source_file,
    row_number() over (partition by _source_file order by _row) as file_row,
    nullif(trim(cast(date as varchar)), '') as raw_date,
    coalesce(try_cast(date as date), try_cast(trim(cast(date as varchar)) as date)) as date,
    nullif(trim(cast(event as varchar)), '') as event,
    nullif(trim(cast(region as varchar)), '') as region
from raw_events;

create or replace temp table bad_events as
select
    _row,
    source_file,
    file_row,
    case
        when raw_date is null then 'empty date'
        when date is null then 'not a date'
        else 'empty event'
    end as problem,
    coalesce(raw_date, '') as value
from typed_events
where date is null or event is null;

create or replace temp table clean_events as
select distinct date, event, region
from typed_events
where date is not null and event is not null;

select
    (select count(*) from typed_events) as rows,
    (select count(*) from bad_events) as bad,
    first.source_file,
    first.file_row as row,
    first.problem,
    first.value
from (select 1) as one
left join (select * from bad_events order by _row limit 1) as first on true;
