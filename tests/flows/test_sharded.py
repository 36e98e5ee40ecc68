"""The sharded forecast flow on a real Dask cluster of two worker processes, on a tiny data set."""

from pathlib import Path

import arviz as az
import numpy as np
import pytest

from forecast import storage

HORIZON = 4
PATHS = 30
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
    db = _ingested(tmp_path_factory, tiny_data, "large")
    args = ["forecast", "--db", db, "--horizon", str(HORIZON), "--draws", "150", "--tune", "150"]
    args += ["--sample-paths", str(PATHS), "--attempt-budget", "1", "--publish-unconverged"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "a large catalog (30 products)" in result.output
    assert "stage 2: shard" in result.output  # the progress display
    runs = _q(db, "select message, config from forecast_runs")
    assert "2 shards" in runs["message"][0] and "by conditional sampling" in runs["message"][0]
    f = _q(db, "select count(*) as n from forecasts")
    assert f["n"][0] == len(tiny_data.products) * HORIZON
