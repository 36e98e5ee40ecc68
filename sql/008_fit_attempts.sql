-- Every sampling attempt of a run, and who published it.
--
-- A fit that fails its convergence checks is retried by the run itself (forecast/model/remedies.py):
-- more chains, smaller steps, another form for the failing part, within a time budget. Each
-- attempt is kept in the run record; `fit_attempts` reads them as rows.

alter table forecast_runs add column if not exists attempts json;          -- one object per attempt
alter table forecast_runs add column if not exists published_by varchar;   -- checks | option | manual
alter table fit_diagnostics add column if not exists role varchar;         -- hyper | shared | product | raw
alter table fit_diagnostics add column if not exists attempt integer;      -- the attempt whose draws it summarises

create or replace view fit_attempts as
with attempts as (
    select run_id, unnest(from_json(attempts, '["json"]')) as attempt
    from forecast_runs
    where attempts is not null
),

final as (
    select
        run_id,
        attempt ->> 'stage' as stage,                -- a sharded run's stage 1 or shard; null for one model
        cast(attempt ->> 'number' as integer) as attempt,
        attempt ->> 'action' as action,              -- what the attempt did, and why
        cast(attempt -> 'settings' ->> 'chains' as integer) as chains,
        cast(attempt -> 'settings' ->> 'tune' as integer) as tune,
        cast(attempt -> 'settings' ->> 'draws' as integer) as draws,
        cast(attempt -> 'settings' ->> 'target_accept' as double) as target_accept,
        cast(attempt ->> 'pooled' as boolean) as pooled,  -- its chains were added to the previous ones
        cast(attempt ->> 'seconds' as double) as seconds,
        attempt ->> 'verdict' as verdict,
        attempt ->> 'problems' as problems,
        cast(attempt ->> 'max_rhat' as double) as max_rhat,
        cast(attempt ->> 'min_ess_hyper' as double) as min_ess_hyper,
        cast(attempt ->> 'divergences' as integer) as divergences
    from attempts
)

select * from final;
