"""Serve the dashboards and load every page in headless chromium: checks and screenshots.

``python -m dashboards.screenshots --db data/demand.duckdb --out docs/screenshots`` saves one PNG per
page; the browser test uses the same functions. Needs chromium and chromedriver (Debian:
``apt-get install -y chromium chromium-driver``) and selenium (a development dependency).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# url path -> the page's title; the first is the default page at "/"
PAGES = {
    "": "Forecast explorer",
    "aggregates": "Aggregates",
    "new_products": "New and sparse products",
    "model_health": "Model health",
    "accuracy": "Accuracy",
}


def chromium() -> tuple[str | None, str | None]:
    """Paths of the chromium binary and its driver, None where missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    return browser, shutil.which("chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(db: str, port: int | None = None, timeout: float = 120) -> Iterator[str]:
    """``demand-forecast dashboard --db DB`` on a free local port; yields the base URL."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "flows.cli", "dashboard", "--db", db, "--port", str(port)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    url = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the dashboard server exited ({proc.returncode}): {proc.stdout.read()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the dashboard server did not answer on {url} in {timeout:.0f} s")
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def browser(width: int = 1400, height: int = 1000):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary, driver = chromium()
    if not (binary and driver):
        raise RuntimeError(
            "chromium and chromedriver are needed: apt-get install -y chromium chromium-driver"
        )
    options = Options()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(arg)
    # an explicit driver: selenium would otherwise try to download one
    return webdriver.Chrome(service=Service(driver), options=options)


@dataclass
class PageShot:
    path: str  # url path
    title: str  # the h1 the page showed
    charts: int
    downloads: int
    exceptions: list[str]
    alerts: list[str]
    screenshot: Path | None
    seconds: float  # until the script finished and the charts drew


def load(driver, url: str, path: str, out: Path | None, timeout: float = 90) -> PageShot:
    """Open one page, wait until its script finished and its charts drew, and read what it shows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    start = time.perf_counter()
    driver.get(f"{url}/{path}")
    wait = WebDriverWait(driver, timeout, poll_frequency=0.2)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "h1"))
    wait.until(
        lambda d: d.find_elements(
            By.CSS_SELECTOR, '[data-testid="stApp"][data-test-script-state="notRunning"]'
        )
    )
    # elements whose code loads lazily show a skeleton first; a chart has drawn once vega-embed put
    # its canvas or svg in it
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stSkeleton"]'))
    wait.until(
        lambda d: all(
            c.find_elements(By.CSS_SELECTOR, "canvas, svg")
            for c in d.find_elements(By.CSS_SELECTOR, '[data-testid="stVegaLiteChart"]')
        )
    )
    charts = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stVegaLiteChart"]')
    seconds = time.perf_counter() - start
    time.sleep(0.5)  # let the last transitions settle before the picture
    shot = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        shot = out / f"{path or 'explorer'}.png"
        full = driver.execute_script(
            "return document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 1000"
        )
        driver.set_window_size(1400, min(max(1000, int(full) + 120), 4000))
        driver.save_screenshot(str(shot))
        driver.set_window_size(1400, 1000)
    return PageShot(
        path=path,
        title=driver.find_element(By.CSS_SELECTOR, "h1").text.strip(),
        charts=len(charts),
        downloads=len(driver.find_elements(By.CSS_SELECTOR, '[data-testid="stDownloadButton"]')),
        exceptions=[e.text for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')],
        alerts=[e.text for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlert"]')],
        screenshot=shot,
        seconds=seconds,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", default="docs/screenshots")
    args = parser.parse_args(argv)
    driver = browser()
    try:
        with serve(args.db) as url:
            for path in PAGES:
                page = load(driver, url, path, Path(args.out))
                print(f"{page.title}: {page.charts} charts, {page.downloads} downloads, {page.seconds:.1f} s, "
                      f"exceptions {len(page.exceptions)} -> {page.screenshot}")  # fmt: skip
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
