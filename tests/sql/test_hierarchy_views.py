"""Aggregates by whatever attributes a run's hierarchy used (sql/009_hierarchy_views.sql): two fake
runs on one catalog, one with the default hierarchy, one with region > store and size."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from forecast import storage
from forecast.config.options import ForecastConfig
from forecast.contract.paths import SamplePaths
from forecast.contract.run_record import RunRecord
from forecast.model.predict import summarise

PRODUCTS = pd.DataFrame(
    {
        "product_id": ["A", "B", "C", "D", "E", "F"],
        "category": ["tops", "tops", "home", "home", "home", None],
        "brand": ["k", "m", "k", "n", "n", "n"],  # brand k in two categories: two groups
        "color": ["red", "blue", "red", "red", "blue", "blue"],
        "region": ["north", "north", "north", "south", "south", "south"],
        "store": ["s1", "s1", "s2", "s1", "s3", "s3"],  # store s1 in both regions
        "size": ["S", "L", "L", "S", "M", "L"],
    }
)
DATES = pd.date_range("2025-01-06", periods=3, freq="7D")
N_DRAWS = 300
CUSTOM = ForecastConfig.from_options(nested="region,store", crossed="size")


@pytest.fixture(scope="module")
def world():
    """Run ``default`` (no hierarchy in its record: the default one), then the newer ``custom``."""
    con = storage.connect(":memory:")
    for attr in ("region", "store", "size"):
        con.execute(f"alter table products add column {attr} varchar")
    con.register("p", PRODUCTS)
    con.execute("insert into products by name select * from p")
    values = {}
    for i, (run_id, record) in enumerate([("default", {}), ("custom", {"config": CUSTOM.to_dict()})]):
        rng = np.random.default_rng(i)
        values[run_id] = rng.negative_binomial(2, 0.3, size=(N_DRAWS, len(PRODUCTS), len(DATES)))
        paths = SamplePaths(values=values[run_id], products=PRODUCTS["product_id"].to_numpy(), dates=DATES)
        started = RunRecord.started(run_id, sampler="fake", **record)
        storage.start_run(con, started)
        storage.write_run(
            con, started.with_(n_products=len(PRODUCTS)).finished(True, "checks"), summarise(paths), paths
        )
        time.sleep(0.01)  # created_at orders the runs: custom is the latest
    yield con, values
    con.close()


def _mask(**attrs):
    keep = np.ones(len(PRODUCTS), bool)
    for k, v in attrs.items():
        keep &= (PRODUCTS[k] == v).to_numpy() if v is not None else PRODUCTS[k].isna().to_numpy()
    return keep


def _total(values, mask):
    return values[:, mask, :].sum(axis=1)  # (draw, date)


def test_product_attributes_and_run_hierarchy(world):
    con, _ = world
    long = con.execute("select * from product_attributes where product_id = 'F' order by attribute").df()
    assert dict(zip(long["attribute"], long["level"], strict=True)) == {
        "brand": "n", "color": "blue", "region": "south", "size": "L", "store": "s3"
    }  # fmt: skip
    got = con.execute("select run_id, attribute, kind, position from run_hierarchy order by all").fetchall()
    assert got == [
        ("custom", "region", "nested", 1),
        ("custom", "size", "crossed", 3),
        ("custom", "store", "nested", 2),
        ("default", "brand", "nested", 2),
        ("default", "category", "nested", 1),
        ("default", "color", "crossed", 3),
    ]


def test_custom_levels_are_coherent_sums_of_the_draws(world):
    con, values = world
    got = con.execute("select * from latest_level_forecasts order by attribute, parents, level, date").df()
    got["parents"] = got["parents"].map(tuple)
    assert set(got["run_id"]) == {"custom"}
    assert set(got["attribute"]) == {"region", "store", "size"}
    v = values["custom"]
    # a store nests in its region: s1 of the north and s1 of the south are two groups
    stores = got[got["attribute"] == "store"].groupby(["parents", "level"], sort=True).size()
    assert list(stores.index) == sorted(
        {(("north",), "s1"), (("north",), "s2"), (("south",), "s1"), (("south",), "s3")}
    )
    for (attribute, parents, level), frame in got.groupby(["attribute", "parents", "level"]):
        mask = _mask(**{attribute: level}, **({"region": parents[0]} if parents else {}))
        total = _total(v, mask)
        assert (frame["products"] == mask.sum()).all()
        np.testing.assert_allclose(frame["mean"], total.mean(axis=0))
        np.testing.assert_allclose(frame["p05"], np.quantile(total, 0.05, axis=0))
        np.testing.assert_allclose(frame["p90"], np.quantile(total, 0.9, axis=0))
    # each attribute's levels add up to the whole catalog, draw by draw: their means do too
    means = got.groupby(["attribute", "date"])["mean"].sum().unstack("date")
    np.testing.assert_allclose(means.to_numpy(), np.tile(_total(v, _mask()).mean(axis=0), (3, 1)))
    # the default views read the latest run, which did not use their attributes
    assert con.execute("select count(*) from category_forecasts").fetchone()[0] == 0


def test_every_runs_levels_and_the_default_run(world):
    con, values = world
    got = con.execute(
        "select * from level_forecasts_of(['default']) order by attribute, parents, level, date"
    ).df()
    assert set(got["attribute"]) == {"category", "brand", "color"}
    # a product without a category is a level of its own (NULL), so the levels still add up
    none = got[(got["attribute"] == "category") & got["level"].isna()]
    np.testing.assert_allclose(none["mean"], _total(values["default"], _mask(category=None)).mean(axis=0))
    k_home = got[
        (got["attribute"] == "brand") & (got["level"] == "k") & (got["parents"].map(tuple) == ("home",))
    ]
    np.testing.assert_allclose(
        k_home["p50"], np.quantile(_total(values["default"], _mask(category="home", brand="k")), 0.5, axis=0)
    )
    every = con.execute("select run_id, count(*) as n from level_forecasts group by 1 order by 1").fetchall()
    assert every == [("custom", 3 * (2 + 4 + 3)), ("default", 3 * (3 + 5 + 2))]  # F: brand n, no category


def test_slice_by_attribute_level_pairs(world):
    con, values = world
    got = con.execute("select * from slice_forecast_by(map {'region': 'south', 'size': 'L'})").df()
    total = _total(values["custom"], _mask(region="south", size="L"))
    assert (got["products"] == 1).all()
    np.testing.assert_allclose(got["mean"], total.mean(axis=0))
    np.testing.assert_allclose(got["p95"], np.quantile(total, 0.95, axis=0))
    # any attribute column, in the run's hierarchy or not; an older run by name
    got = con.execute("select * from slice_forecast_by(map {'color': 'blue'}, run := 'default')").df()
    np.testing.assert_allclose(
        got["p25"], np.quantile(_total(values["default"], _mask(color="blue")), 0.25, 0)
    )
    everything = con.execute("select mean from slice_forecast_by(map {})").df()
    np.testing.assert_allclose(everything["mean"], _total(values["custom"], _mask()).mean(axis=0))
    assert con.execute("select count(*) from slice_forecast_by(map {'size': 'XXL'})").fetchone()[0] == 0
    # the default attributes' macro is the same slice
    by_name = con.execute("select * from slice_forecast(brand := 'n', color := 'blue')").df()
    pairs = con.execute("select * from slice_forecast_by(map {'brand': 'n', 'color': 'blue'})").df()
    pd.testing.assert_frame_equal(by_name, pairs)
