-- Forecast results, written by `demand-forecast forecast` in one transaction per run.

create table if not exists forecast_runs (
    run_id varchar primary key,
    created_at timestamp not null,
    finished_at timestamp,
    status varchar not null,        -- running | succeeded | failed
    published boolean not null default false,  -- visible in latest_forecasts
    message varchar,                -- why a run failed; assumptions worth knowing
    frequency varchar,              -- daily | weekly | monthly | quarterly
    horizon integer,                -- periods ahead
    n_products integer,
    n_observations bigint,
    first_date date,                -- history used by the fit
    last_date date,
    sampler varchar,
    seed integer,
    config json,                    -- the full configuration, priors included
    config_hash varchar,
    package_version varchar,
    timings json,                   -- seconds per stage
    max_rhat double,                -- worst R-hat over the model's parameters
    min_ess_bulk double,            -- smallest bulk effective sample size
    min_ess_tail double,
    divergences integer,            -- divergent transitions after tuning
    verdict varchar                 -- converged | not converged | approximate (ADVI)
);

create table if not exists forecasts (
    run_id varchar not null,
    product_id varchar not null,
    date date not null,   -- period start
    mean double,          -- expected units
    p05 double,           -- quantiles of units sold in the period
    p10 double,
    p25 double,
    p50 double,
    p75 double,
    p90 double,
    p95 double,
    primary key (run_id, product_id, date)
);

create table if not exists forecast_draws (
    run_id varchar not null,
    product_id varchar not null,
    date date not null,
    draw integer not null,     -- sample path number; the same draw across products is one joint path
    quantity integer not null  -- simulated units sold
);
