"""Shared fixtures: small seeded synthetic data, temporary databases, one Prefect harness."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from forecast.prep.synthetic import generate_retail_data  # noqa: E402


@pytest.fixture(scope="session")
def tiny_data():
    """30 products, 60 weeks: enough structure for every code path, small enough to fit fast."""
    return generate_retail_data(n_products=30, n_periods=60, seed=7, new_share=0.15)


@pytest.fixture(scope="session")
def tiny_design(tiny_data):
    """``tiny_data`` prepared for the model: the default hierarchy, a 6-period horizon."""
    from forecast.contract.schema import Hierarchy
    from forecast.prep.calendar import infer_frequency
    from forecast.prep.design import build_design

    freq = infer_frequency(tiny_data.sales["date"])
    return build_design(tiny_data.sales, tiny_data.products, Hierarchy(), freq, 6)


def write_inputs(data, folder):
    """A generated data set as the CSV files a retailer would hand over: ``(sales, products)`` paths."""
    sales, products = folder / "sales.csv", folder / "products.csv"
    data.sales.assign(date=data.sales["date"].dt.date).to_csv(sales, index=False)
    data.products.to_csv(products, index=False)
    return sales, products


@pytest.fixture
def tiny_files(tiny_data, tmp_path):
    return write_inputs(tiny_data, tmp_path)


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect API for the whole session (it takes seconds to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
