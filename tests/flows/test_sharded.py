"""The sharded forecast flow on a real Dask cluster of two worker processes, on a tiny data set;
its streamed write and its retries in this process, stage 1 fitted once (ADVI) for all of them."""

import json
import os
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest

from forecast import storage
from forecast.contract.paths import SamplePaths

HORIZON = 4
PATHS = 30
# The runs of the streamed write and the retries: plumbing, not inference (stage 1 by ADVI, once).
QUICK = {"horizon": HORIZON, "sampler": "advi", "draws": 60, "chains": 1, "sample_paths": PATHS}
TOP = ("intercept", "sigma_product", "sigma_brand", "log_alpha", "elasticity_mu", "effect_brand", "season")


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def _ingested(tmp_path_factory, tiny_data, name):
    from flows.ingest import ingest_flow

    folder = tmp_path_factory.mktemp(name)
    sales, products = folder / "sales.csv", folder / "products.csv"
    tiny_data.sales.assign(date=tiny_data.sales["date"].dt.date).to_csv(sales, index=False)
    tiny_data.products.to_csv(products, index=False)
    db = str(folder / "demand.duckdb")
    ingest_flow(str(sales), str(products), db=db)
    return db


@pytest.fixture(scope="module")
def sharded_run(tmp_path_factory, tiny_data, prefect_harness, cluster):
    """Stage 2 by NUTS per shard."""
    from flows.sharded import run_sharded

    db = _ingested(tmp_path_factory, tiny_data, "sharded")
    summary = run_sharded(
        dask_address=cluster.scheduler_address,
        db=db,
        shards_n=2,
        sample_products=12,
        stage2="nuts",
        options={
            "horizon": HORIZON,
            "draws": 150,
            "tune": 150,
            "sample_paths": PATHS,
            "attempt_budget": 1.0,  # no retries: 150 draws are for plumbing, not for passing the checks
        },
        publish_unconverged=True,
    )
    return db, summary


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory, tiny_data, prefect_harness, cluster):
    """Stage 2 by conditional sampling (the default where it applies)."""
    from flows.sharded import run_sharded

    db = _ingested(tmp_path_factory, tiny_data, "conditional")
    options = {"horizon": HORIZON, "draws": 150, "tune": 150, "sample_paths": PATHS, "attempt_budget": 1.0}
    summary = run_sharded(
        dask_address=cluster.scheduler_address,
        db=db,
        shards_n=2,
        sample_products=12,
        options=options,
        publish_unconverged=True,
    )
    return db, summary


def _q(db, sql):
    with storage.connect_read_only(db) as con:
        return con.execute(sql).df()


@pytest.mark.slow
def test_sharded_run_writes_one_run_with_every_product(sharded_run, tiny_data):
    db, summary = sharded_run
    runs = _q(db, "select * from forecast_runs")
    assert list(runs["run_id"]) == [summary.run_id]
    assert runs["status"][0] == "succeeded" and runs["published"][0]
    assert "2 shards" in runs["message"][0]
    f = _q(db, f"select * from forecasts where run_id = '{summary.run_id}'")
    assert set(f["product_id"]) == set(tiny_data.products["product_id"])  # incl. products with no sales
    assert len(f) == len(tiny_data.products) * HORIZON
    d = _q(db, "select product_id, date, count(distinct draw) as k from forecast_draws group by all")
    assert len(d) == len(tiny_data.products) * HORIZON and (d["k"] == PATHS).all()
    effects = _q(db, "select * from product_effects")
    assert set(effects["product_id"]) == set(tiny_data.products["product_id"])
    params = _q(db, "select parameter from fit_diagnostics")["parameter"]
    assert {f"alpha_product[{p}]" for p in tiny_data.products["product_id"]} <= set(params)
    assert "sigma_brand" in set(params)  # the shared values' posterior, from stage 1


@pytest.mark.slow
def test_a_conditional_stage2_writes_every_product_and_says_how(conditional_run, tiny_data):
    """By default the shards draw their products' levels given stage 1's draws of the top: one
    run, every product's forecasts, paths, effects and level, the method in the run record, and
    the products of one group pooled toward the same mean whichever shard they sit in."""
    db, summary = conditional_run
    runs = _q(db, "select * from forecast_runs")
    assert list(runs["run_id"]) == [summary.run_id]
    assert runs["status"][0] == "succeeded"
    assert "2 shards" in runs["message"][0] and "by conditional sampling" in runs["message"][0]
    assert '"stage2": "conditional"' in runs["config"][0]
    f = _q(db, f"select * from forecasts where run_id = '{summary.run_id}'")
    assert len(f) == len(tiny_data.products) * HORIZON
    d = _q(db, "select product_id, date, count(distinct draw) as k from forecast_draws group by all")
    assert len(d) == len(tiny_data.products) * HORIZON and (d["k"] == PATHS).all()
    params = set(_q(db, "select parameter from fit_diagnostics")["parameter"])
    assert {f"alpha_product[{p}]" for p in tiny_data.products["product_id"]} <= params
    effects = _q(
        db,
        "select e.product_id, e.group_effect, p.category, p.brand, p.color "
        "from product_effects e join products p using (product_id)",
    )
    assert len(effects) == len(tiny_data.products)
    same_groups = effects.groupby(["category", "brand", "color"])["group_effect"]
    assert (same_groups.nunique() == 1).all()


@pytest.mark.slow
def test_shards_share_the_same_fixed_top_of_the_hierarchy(sharded_run):
    db, summary = sharded_run
    folder = Path(db).parent / "posteriors"
    stage1 = az.from_netcdf(folder / f"{summary.run_id}.nc").posterior
    shard_files = sorted(folder.glob(f"{summary.run_id}-shard*.nc"))
    assert len(shard_files) == 2
    posts = [az.from_netcdf(f).posterior for f in shard_files]
    products = [set(p["product"].values) for p in posts]
    assert not products[0] & products[1]  # a product sits in one shard only
    for name in TOP:
        for post in posts:
            expected = stage1[name].mean(("chain", "draw"))
            assert float(post[name].std(("chain", "draw")).max()) < 1e-12, name  # constant in stage 2
            here = post[name].isel(chain=0, draw=0)
            for dim in here.dims:  # the levels both know (a shard holds some brands only)
                keys = np.intersect1d(here[dim].values, expected[dim].values)
                assert len(keys) > 0
                here, expected = here.sel({dim: keys}), expected.sel({dim: keys})
            np.testing.assert_allclose(here.values, expected.values, rtol=1e-12, err_msg=name)


@pytest.mark.slow
def test_products_in_different_shards_are_pooled_toward_the_same_groups(sharded_run):
    db, _ = sharded_run
    effects = _q(
        db,
        "select e.product_id, e.group_effect, p.category, p.brand, p.color "
        "from product_effects e join products p using (product_id)",
    )
    same_groups = effects.groupby(["category", "brand", "color"])["group_effect"]
    assert (same_groups.nunique() == 1).all()
    assert (same_groups.size() > 1).any()


@pytest.mark.slow
def test_a_bad_shard_attribute_fails_the_run_and_writes_nothing(sharded_run, cluster):
    from flows.sharded import run_sharded

    db, summary = sharded_run
    with pytest.raises(ValueError, match="cannot shard by 'size'"):
        run_sharded(
            dask_address=cluster.scheduler_address, db=db, shard_by="size", options={"draws": 50, "tune": 50}
        )
    runs = _q(db, f"select run_id, status from forecast_runs where run_id <> '{summary.run_id}'")
    assert list(runs["status"]) == ["failed"]
    left = _q(db, f"select count(*) as n from forecasts where run_id = '{runs['run_id'][0]}'")
    assert left["n"][0] == 0


def test_cli_takes_sharding_options_with_the_dask_runner_only():
    from typer.testing import CliRunner

    from flows.cli import app

    runner = CliRunner()
    help_text = runner.invoke(app, ["forecast", "--help"]).output
    for option in (
        "--task-runner",
        "--dask-address",
        "--shards",
        "--shard-by",
        "--stage1-products",
        "--stage2",
    ):
        assert option in help_text
    result = runner.invoke(app, ["forecast", "--shards", "2"])
    assert result.exit_code == 1 and "need --task-runner dask" in result.output
    result = runner.invoke(app, ["forecast", "--task-runner", "spark"])
    assert result.exit_code == 1 and "unknown task runner" in result.output
    result = runner.invoke(app, ["forecast", "--task-runner", "dask", "--stage2", "gibbs"])
    assert result.exit_code == 1 and "unknown --stage2 'gibbs'" in result.output


@pytest.mark.slow
def test_a_default_run_on_a_large_catalog_takes_the_large_catalog_path(
    tmp_path_factory, tiny_data, prefect_harness, monkeypatch
):
    """``demand-forecast forecast`` with no task runner named: a catalog at or over
    ``LARGE_CATALOG`` products (lowered here to fit a test) is fitted in this process by stage 1 on
    a sample and stage 2 by conditional sampling, in shards, and says so; every product forecast."""
    from typer.testing import CliRunner

    from flows.cli import app
    from forecast import shards

    monkeypatch.setattr(shards, "LARGE_CATALOG", 10)
    monkeypatch.setattr(shards, "LARGE_STAGE1_PRODUCTS", 12)
    monkeypatch.setattr(shards, "LARGE_SHARD_PRODUCTS", 20)
    monkeypatch.setattr(shards, "LARGE_STAGE1_BUDGET", 1.5)
    db = _ingested(tmp_path_factory, tiny_data, "large")
    args = ["forecast", "--db", db, "--horizon", str(HORIZON), "--draws", "150", "--tune", "150"]
    args += ["--sample-paths", str(PATHS), "--attempt-budget", "1", "--publish-unconverged"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "a large catalog (30 products)" in result.output
    assert "stage 2: shard" in result.output  # the progress display
    runs = _q(db, "select message, config from forecast_runs")
    assert "2 shards" in runs["message"][0] and "by conditional sampling" in runs["message"][0]
    assert json.loads(runs["config"][0])["sharding"]["stage1_budget"] == 1.5  # recorded with the run
    f = _q(db, "select count(*) as n from forecasts")
    assert f["n"][0] == len(tiny_data.products) * HORIZON


# ------------------------------------------------ the streamed write and the retries, in seconds


@pytest.fixture(scope="module")
def quick_db(tmp_path_factory, tiny_data, prefect_harness):
    return _ingested(tmp_path_factory, tiny_data, "quick")


@pytest.fixture(scope="module")
def quick_stage1(quick_db):
    """Stage 1 as the quick runs fit it (the flow's own steps, up to its sample), fitted once."""
    from forecast import runs, shards
    from forecast.config.options import ForecastConfig

    config = ForecastConfig.from_options(**QUICK)
    with storage.connect_read_only(quick_db) as con:
        (sales, products), events = storage.load_training_data(con), storage.load_events(con)
    prepared = runs.prepare(sales, products, config, None, events)
    sharding = shards.ShardConfig(n_shards=2, sample_products=12)
    return shards.fit_sample(shards.stage1_prepared(prepared, config, sharding), config)


def _stage1_stand_in(stage1):
    def fit_sample(sample, config, progressbar=False):
        assert list(sample.design.products) == list(stage1.sample), "not the quick runs' sample"
        return stage1

    return fit_sample


@pytest.fixture
def quick(quick_db, quick_stage1, monkeypatch):
    """A sharded run in this process (the large-catalog path's task runner) on ``quick_db``, with
    stage 1 from ``quick_stage1``: returns the run's id and whether it raised."""
    from flows.sharded import run_in_process
    from forecast import shards

    monkeypatch.setattr(shards, "fit_sample", _stage1_stand_in(quick_stage1))

    def run():
        before = set(_q(quick_db, "select run_id from forecast_runs")["run_id"])
        try:
            run_in_process(db=quick_db, shards_n=2, sample_products=12, options=QUICK)
            error = None
        except Exception as exc:
            error = exc
        (run_id,) = set(_q(quick_db, "select run_id from forecast_runs")["run_id"]) - before
        return run_id, error

    return run


def _spy_shards(monkeypatch, fail=lambda shard, calls: None):
    """Record every shard result the tasks return, with a copy of its paths; ``fail`` may raise."""
    from forecast import shards

    real, seen, calls = shards.fit_shard_conditional, [], []

    def spy(shard, top, config):
        calls.append(shard.index)
        fail(shard, calls)
        result = real(shard, top, config)
        seen.append((result, result.paths.values.copy()))
        return result

    monkeypatch.setattr(shards, "fit_shard_conditional", spy)
    return seen, calls


def _draws(db, run_id):
    return _q(db, f"select product_id, date, draw, quantity from forecast_draws where run_id = '{run_id}'")


def _left_of(db, run_id):
    return {
        t: _q(db, f"select count(*) as n from {t} where run_id = '{run_id}'")["n"][0]
        for t in ("forecasts", "forecast_draws")
    }


def test_a_sharded_run_streams_each_shards_draws_into_its_one_write(quick, quick_db, tiny_data, monkeypatch):
    """The draws written shard by shard are the shards' sample paths, every one, and the paths
    the tasks returned are dropped once written (the flow holds one shard's at a time)."""
    seen, _ = _spy_shards(monkeypatch)
    run_id, error = quick()
    assert error is None
    run = _q(quick_db, f"select status, published, message from forecast_runs where run_id = '{run_id}'")
    assert run["status"][0] == "succeeded" and run["published"][0] and "2 shards" in run["message"][0]
    assert len(seen) == 2
    assert all(result.paths.values is None for result, _ in seen)  # let go of, futures and all
    expected = []
    for result, values in seen:
        frame = SamplePaths(values, result.paths.products, result.paths.dates).frame()
        frame["product_id"] = result.paths.products[frame["p"]]
        frame["date"] = result.paths.dates[frame["t"]]
        expected.append(frame.drop(columns=["p", "t"]))
    expected = pd.concat(expected, ignore_index=True)
    d = _draws(quick_db, run_id)
    n_products = len(tiny_data.products)
    assert len(d) == n_products * HORIZON * PATHS == len(expected)
    assert set(d["product_id"]) == set(tiny_data.products["product_id"])
    keys = ["product_id", "date", "draw"]
    both = d.merge(expected, on=keys, suffixes=("", "_shard"), validate="one_to_one")
    assert len(both) == len(d) and (both["quantity"] == both["quantity_shard"]).all()
    totals = d.groupby(["date", "draw"])["quantity"].sum().sort_index()
    np.testing.assert_array_equal(totals, expected.groupby(["date", "draw"])["quantity"].sum().sort_index())
    f = _q(quick_db, f"select count(*) as n from forecasts where run_id = '{run_id}'")
    assert f["n"][0] == n_products * HORIZON


@pytest.mark.parametrize("where", ["a shard", "the finish"])
def test_a_run_failing_after_some_shards_draws_are_in_leaves_none_of_them(
    quick, quick_db, monkeypatch, where
):
    """A shard failing on every attempt once another shard's draws are in the transaction, or the
    last statement of the write failing: the run rolls back whole and is marked failed."""
    from forecast.storage import RunWriter
    from forecast.storage import runs as run_store

    added = []
    real_add = RunWriter.add_draws
    monkeypatch.setattr(RunWriter, "add_draws", lambda self, paths: added.append(real_add(self, paths)))
    if where == "a shard":

        def fail(shard, calls):
            if shard.index == 1:
                raise RuntimeError("shard 1 broke")

        _, calls = _spy_shards(monkeypatch, fail)
    else:
        real_update = run_store.update_run

        def update_run(con, run_id, fields):
            if fields.get("status") in ("succeeded", "unconverged"):  # the finished record
                raise RuntimeError("the write broke")
            real_update(con, run_id, fields)

        monkeypatch.setattr(run_store, "update_run", update_run)
    run_id, error = quick()
    assert isinstance(error, RuntimeError)
    assert len(added) == (1 if where == "a shard" else 2)  # shard 0's draws were in
    if where == "a shard":
        assert sorted(calls) == [0, 1, 1, 1]  # shard 1 tried three times: retried twice
    assert _left_of(quick_db, run_id) == {"forecasts": 0, "forecast_draws": 0}
    run = _q(quick_db, f"select status, message from forecast_runs where run_id = '{run_id}'")
    assert run["status"][0] == "failed" and "broke" in run["message"][0]


def test_a_shard_that_fails_once_is_retried_and_the_run_publishes(
    quick, quick_db, tiny_data, monkeypatch, tmp_path
):
    marker = tmp_path / "failed-once"

    def fail(shard, calls):
        if shard.index == 1 and not marker.exists():
            marker.touch()
            raise RuntimeError("a passing fault")

    _, calls = _spy_shards(monkeypatch, fail)
    run_id, error = quick()
    assert error is None and marker.exists() and sorted(calls) == [0, 1, 1]
    run = _q(quick_db, f"select status, published from forecast_runs where run_id = '{run_id}'")
    assert run["status"][0] == "succeeded" and run["published"][0]
    d = _draws(quick_db, run_id)
    assert len(d) == len(tiny_data.products) * HORIZON * PATHS
    assert set(d["product_id"]) == set(tiny_data.products["product_id"])


def _on_worker(stage1, marker: str) -> None:
    """On a Dask worker: stage 1 is ``stage1``; shard 1's first attempt kills its worker process."""
    from forecast import shards

    real = shards.fit_shard_conditional
    shards.fit_sample = _stage1_stand_in(stage1)

    def dies_once(shard, top, config):
        if shard.index == 1 and not os.path.exists(marker):
            Path(marker).touch()
            os._exit(1)
        return real(shard, top, config)

    shards.fit_shard_conditional = dies_once


def test_a_shard_whose_dask_worker_dies_is_run_again_and_the_run_publishes(
    quick_db, quick_stage1, tiny_data, tmp_path
):
    """Dask reschedules a task whose worker process died (the nanny starts a new one) through
    prefect-dask: the run still writes every product's draws."""
    from distributed import Client, LocalCluster

    from flows.sharded import run_sharded

    marker = tmp_path / "worker-died"
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c,
        Client(c) as client,
    ):
        client.run(_on_worker, quick_stage1, str(marker))
        summary = run_sharded(
            dask_address=c.scheduler_address, db=quick_db, shards_n=2, sample_products=12, options=QUICK
        )
    assert marker.exists()
    run = _q(quick_db, f"select status, published from forecast_runs where run_id = '{summary.run_id}'")
    assert run["status"][0] == "succeeded" and run["published"][0]
    d = _draws(quick_db, summary.run_id)
    assert len(d) == len(tiny_data.products) * HORIZON * PATHS
    assert set(d["product_id"]) == set(tiny_data.products["product_id"])
