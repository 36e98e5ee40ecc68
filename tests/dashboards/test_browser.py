"""The dashboards in a real browser: served by `demand-forecast dashboard`, every page in headless chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dashboards.screenshots import PAGES, browser, chromium, load, serve

BROWSER, DRIVER = chromium()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (BROWSER and DRIVER),
        reason="chromium or chromedriver is not installed (Debian: apt-get install -y chromium chromium-driver)",
    ),
]


@pytest.fixture(scope="module")
def driver():
    d = browser()
    yield d
    d.quit()


@pytest.fixture(scope="module")
def url(dashboard_db):
    with serve(dashboard_db["db"]) as base:
        yield base


def test_every_page_renders_in_a_browser(url, driver, tmp_path):
    """No exception box, the page's title, its charts drawn, its downloads; a screenshot of each."""
    out = Path(os.environ.get("DASHBOARD_SCREENSHOTS") or tmp_path / "screenshots")
    expected_charts = {"": 1, "aggregates": 2, "new_products": 3, "model_health": 2, "accuracy": 5}
    for path, title in PAGES.items():
        page = load(driver, url, path, out)
        assert page.exceptions == [], (path, page.exceptions)
        assert page.title == title
        assert page.charts == expected_charts[path], (path, page.charts, page.alerts)
        assert page.downloads >= 1, path
        assert not [a for a in page.alerts if "database" in a.lower()], page.alerts
        assert page.screenshot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_the_explorer_names_the_run_and_the_database(dashboard_db, url, driver):
    from selenium.webdriver.common.by import By

    load(driver, url, "", None)
    text = driver.find_element(By.CSS_SELECTOR, '[data-testid="stApp"]').text
    assert dashboard_db["run_id"] in text
    assert dashboard_db["db"] in text
