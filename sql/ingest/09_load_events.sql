-- Events, step 2: the checked events into `events`, each (date, event, region) once: a row already
-- there is kept as it is, so the same calendar again changes nothing.
--
-- Reads:  clean_events (08_stage_events.sql), checked: every row a dated, named event; events.
-- Writes: events.
-- Parameters: $ingest_id  this ingest
-- Returns the number of rows added.

create or replace temp table new_events as
select c.date, c.event, c.region
from clean_events as c
where not exists (
    select 1 from events as e
    where e.date = c.date and e.event = c.event and e.region is not distinct from c.region
);

insert into events
select date, event, region, $ingest_id
from new_events;

select count(*) as added from new_events;
