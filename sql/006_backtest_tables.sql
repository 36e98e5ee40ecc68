-- Backtests, written by `demand-forecast backtest` in one transaction per backtest.
-- Rolling origin: each fold fits only on data up to its cutoff and is scored on the periods after it.

create table if not exists backtest_runs (
    backtest_id varchar primary key,
    created_at timestamp not null,
    finished_at timestamp,
    status varchar not null,        -- running | succeeded | failed
    message varchar,                -- why it failed; what to read in the results
    frequency varchar,
    folds integer,
    horizon integer,                -- periods scored after each cutoff
    step integer,                   -- periods between cutoffs
    cutoffs json,                   -- last date each fold's fit saw
    n_products integer,
    methods json,                   -- the methods scored, the project's model first
    config json,                    -- the model's configuration
    config_hash varchar,
    package_version varchar,
    timings json,                   -- seconds per stage
    fits json,                      -- per fold and model fit: convergence verdict, worst R-hat and ESS, seconds
    report_path varchar             -- the self-contained HTML report
);

-- One row per backtest x method x level x segment x fold (fold 0: all folds together).
-- level: product | brand | category | color | total (or another configured attribute); aggregate
-- forecasts of the project's models come from summed sample paths, a baseline's from the aggregated series.
-- segment: all | regular | intermittent | new | unseen (no history at the cutoff) | cold_start (the sample
-- whose whole history was hidden; methods hierarchical and hierarchical_from_attributes); and, across
-- those, stockout (stock-outs in the history at the cutoff: availability under 1) | declining (an
-- end date after the cutoff). A discontinued product's periods after its end date are not scored.
create table if not exists backtest_metrics (
    backtest_id varchar not null,
    method varchar not null,        -- hierarchical | no_pooling | seasonal_naive | auto_ets | croston | tsb | adida | auto_ets_bottom_up | auto_ets_min_trace | hierarchical_from_attributes
    level varchar not null,
    segment varchar not null,
    fold integer not null,
    n_series integer,
    n_cells integer,                -- series x periods scored
    crps double,                    -- mean CRPS over cells (units), from the common quantile grid
    wql double,                     -- weighted quantile loss: summed pinball loss / summed actuals
    mase double,                    -- mean over series of MAE(median) / in-sample naive MAE
    bias double,                    -- (summed mean forecast - summed actuals) / summed actuals
    coverage_80 double,             -- share of actuals inside the closed 10%-90% interval
    coverage_95 double,             -- share inside 2.5%-97.5%
    pit_coverage_80 double,         -- share of randomized PIT values in [0.1, 0.9]: coverage fair to counts
    primary key (backtest_id, method, level, segment, fold)
);

-- A database created before the 50% interval was scored.
alter table backtest_metrics add column if not exists coverage_50 double;  -- share inside 25%-75%

-- PIT histogram (randomized for counts), ten bins, product level, all folds.
create table if not exists backtest_pit (
    backtest_id varchar not null,
    method varchar not null,
    segment varchar not null,
    bin integer not null,           -- 0..9: PIT in [bin/10, (bin+1)/10)
    share double not null,          -- a calibrated forecast puts 0.1 in each
    primary key (backtest_id, method, segment, bin)
);

-- The scored forecasts themselves, product level: fans against actuals for the report and dashboards.
create table if not exists backtest_forecasts (
    backtest_id varchar not null,
    fold integer not null,
    cutoff date not null,
    method varchar not null,
    product_id varchar not null,
    segment varchar not null,
    date date not null,
    actual double,
    mean double,
    p025 double,
    p05 double,
    p10 double,
    p25 double,
    p50 double,
    p75 double,
    p90 double,
    p95 double,
    p975 double,
    primary key (backtest_id, fold, method, product_id, date)
);
