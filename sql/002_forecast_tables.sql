-- Forecast results, written by `demand-forecast forecast` in one transaction per run.

create table if not exists forecast_runs (
    run_id varchar primary key,
    created_at timestamp not null,
    finished_at timestamp,
    status varchar not null,        -- running | succeeded | unconverged (written, not published) | failed
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
    min_ess_hyper double,           -- smallest ESS (bulk or tail) over hyperparameters
    min_bfmi double,                -- smallest energy BFMI over chains
    verdict varchar,                -- converged | not converged | approximate (ADVI)
    problems varchar,               -- what failed the checks, and what to try
    likelihood varchar,             -- negbin | zinb
    posterior_path varchar          -- NetCDF file of the posterior (ArviZ InferenceData)
);

-- One row per scalar parameter of a run's fit.
create table if not exists fit_diagnostics (
    run_id varchar not null,
    parameter varchar not null,     -- e.g. sigma_brand, effect_color[red]
    variable varchar not null,      -- the parameter's name without its index
    hyperparameter boolean not null,
    mean double,                    -- posterior mean (log scale for effects)
    sd double,
    hdi_05 double,                  -- 90% highest-density interval
    hdi_95 double,
    mcse_mean double,
    ess_bulk double,
    ess_tail double,
    r_hat double,
    primary key (run_id, parameter)
);

-- Partial pooling at work: per product and run, on the log scale of demand.
create table if not exists product_effects (
    run_id varchar not null,
    product_id varchar not null,
    n_obs integer,              -- periods of history the fit saw
    units bigint,               -- units sold in that history
    pooled_effect double,       -- posterior mean of the product's level
    pooled_sd double,
    group_effect double,        -- mean of its groups (intercept + category + brand + color ...)
    no_pooling_effect double,   -- the level from its own rows alone; null without sales
    shrinkage double,           -- 0-1: its groups' weight in its level (0: own rows alone, 1: groups alone)
    primary key (run_id, product_id)
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

-- A database created before stock-outs were read: the flag on each forecast row, and the run's count.
-- had_stockouts: the product's history had periods out of stock (availability under 1), read as
-- lower bounds on demand; its forecast is of demand, not of the sales a stock-out would allow.
-- null: a run written before the flag existed.
alter table forecasts add column if not exists had_stockouts boolean;
alter table forecast_runs add column if not exists censored_rows bigint;  -- such periods the fit read

create table if not exists forecast_draws (
    run_id varchar not null,
    product_id varchar not null,
    date date not null,
    draw integer not null,     -- sample path number; the same draw across products is one joint path
    quantity integer not null  -- simulated units sold
);
