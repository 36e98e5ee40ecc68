"""`demand-forecast serve` against a real Prefect server: a scheduled deployment, a run of it, retries.

The server, the served deployments and the API client each run in their own process with their own
PREFECT_HOME and PREFECT_API_URL, so nothing here touches the session's test harness.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CRON = "15 7 * * 2"

CONFIG = """
db = "demand.duckdb"
timeout_minutes = 20
[inbox]
folder = "inbox"
sales = "sales*.csv"
[forecast]
draws = 60
tune = 60
chains = 2
sample_paths = 20
horizon = 4
publish_unconverged = true
[schedule]
cron = "{cron}"
timezone = "Europe/Berlin"
name = "nightly-test"
"""

# Runs in its own process against the test's server; prints what the test checks as JSON.
CLIENT = r"""
import asyncio, json, sys
from prefect.client.orchestration import get_client
from prefect.deployments.flow_runs import arun_deployment


async def main(bad_db):
    out = {}
    async with get_client() as client:

        async def post(path, body):  # the REST filters, with only the fields that matter
            response = await client.request("POST", path, json=body)
            return response.json()

        for _ in range(120):  # serve registers its deployments one by one
            try:
                for name in ("ingest/nightly-test", "forecast/nightly-test", "pipeline/nightly-test"):
                    deployment = await client.read_deployment_by_name(name)
                break
            except Exception:
                await asyncio.sleep(1)
        else:
            raise TimeoutError("serve did not register its three deployments")
        out["deployment_id"] = str(deployment.id)
        out["schedules"] = [
            {"cron": s.schedule.cron, "timezone": s.schedule.timezone, "active": s.active}
            for s in deployment.schedules
        ]
        out["parameters"] = deployment.parameters
        out["entrypoint"] = deployment.entrypoint
        flows = {f["id"]: f["name"] for f in await post("/flows/filter", {"limit": 50})}
        deployments = await post("/deployments/filter", {"limit": 50})
        out["served"] = sorted(f"{flows[d['flow_id']]}/{d['name']}" for d in deployments)

        async def describe(flow_run_id):
            flow_run = await client.read_flow_run(flow_run_id)
            run_filter = {"id": {"any_": [str(flow_run_id)]}}
            tasks = await post("/task_runs/filter", {"flow_runs": run_filter, "limit": 50})
            artifacts = await post(
                "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}, "limit": 50}
            )
            described = {}
            for t in tasks:
                states = await client.read_task_run_states(t["id"])
                described[t["name"].rsplit("-", 1)[0]] = {
                    "state": t["state"]["type"],
                    "run_count": t["run_count"],
                    "history": [s.name for s in sorted(states, key=lambda s: s.timestamp)],
                }
            return {
                "state": flow_run.state.type.value,
                "message": flow_run.state.message,
                "deployment_id": str(flow_run.deployment_id),
                "tasks": described,
                "artifacts": {a["key"]: a["data"] for a in artifacts if a["key"]},
            }

        ok = await arun_deployment("pipeline/nightly-test", client=client, timeout=600, poll_interval=2)
        out["ok"] = await describe(ok.id)
        bad = await arun_deployment(
            "pipeline/nightly-test", client=client, parameters={"db": bad_db}, timeout=300, poll_interval=2
        )
        out["bad"] = await describe(bad.id)
    print("RESULT " + json.dumps(out, default=str))


asyncio.run(main(sys.argv[1]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"prefect server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"no healthy Prefect server at {url} after {timeout} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_data):
    """A Prefect server on loopback, `demand-forecast serve` registered with it, two runs triggered."""
    root = tmp_path_factory.mktemp("serve")
    inbox = root / "inbox"
    inbox.mkdir()
    tiny_data.sales.assign(date=tiny_data.sales["date"].dt.date).to_csv(inbox / "sales_001.csv", index=False)
    tiny_data.products.to_csv(inbox / "products.csv", index=False)
    (root / "pipeline.toml").write_text(CONFIG.format(cron=CRON))
    (root / "not-a-database").mkdir()  # a database path that cannot be opened: an I/O failure

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PREFECT_HOME": str(root / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{root / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    logs = root / "logs"
    logs.mkdir()
    with open(logs / "server.log", "w") as server_log, open(logs / "serve.log", "w") as serve_log:
        yield from _serve_and_run(root, env, api, port, server_log, serve_log)


def _serve_and_run(root, env, api, port, server_log, serve_log):
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=root,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    serving = None
    try:
        _wait_healthy(api, server)
        serving = subprocess.Popen(
            [str(BIN / "demand-forecast"), "serve", "--config", str(root / "pipeline.toml")],
            env=env,
            cwd=REPO,
            stdout=serve_log,
            stderr=subprocess.STDOUT,
        )
        client = subprocess.run(
            [sys.executable, "-c", CLIENT, str(root / "not-a-database")],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=900,
        )
        line = next((x for x in client.stdout.splitlines() if x.startswith("RESULT ")), None)
        if client.returncode != 0 or line is None:
            raise RuntimeError(
                f"client failed ({client.returncode}):\n{client.stdout[-3000:]}\n{client.stderr[-3000:]}\n"
                f"serve log:\n{Path(serve_log.name).read_text()[-3000:]}"
            )
        yield json.loads(line.removeprefix("RESULT ")), root
    finally:
        if serving is not None:
            _stop(serving)
        _stop(server)


@pytest.mark.slow
def test_serve_registers_the_pipeline_on_its_cron_schedule(served):
    result, root = served
    assert result["schedules"] == [{"cron": CRON, "timezone": "Europe/Berlin", "active": True}]
    assert result["entrypoint"] == "flows.pipeline.pipeline_flow"
    params = result["parameters"]
    assert params["inbox"] == str(root / "inbox") and params["db"] == str(root / "demand.duckdb")
    assert params["forecast"]["draws"] == 60 and params["timeout_minutes"] == 20
    assert result["served"] == ["forecast/nightly-test", "ingest/nightly-test", "pipeline/nightly-test"]


@pytest.mark.slow
def test_a_triggered_run_of_the_deployment_completes_and_writes_forecasts(served):
    from forecast import storage

    result, root = served
    ok = result["ok"]
    assert ok["deployment_id"] == result["deployment_id"]
    assert ok["state"] == "COMPLETED", ok["message"]
    assert ok["tasks"]["ingest-inbox"]["state"] == "COMPLETED"
    assert ok["tasks"]["report"]["state"] == "COMPLETED"
    with storage.connect_read_only(root / "demand.duckdb") as con:
        run_id, n = con.execute(
            "select any_value(run_id), count(distinct product_id) from latest_forecasts"
        ).fetchone()
    assert n == 30
    assert f"Forecast run {run_id}" in ok["artifacts"]["forecast-summary"]
    assert "forecast-changes" in ok["artifacts"]


@pytest.mark.slow
def test_an_io_failure_is_retried_then_fails_the_run(served):
    bad = served[0]["bad"]
    assert bad["state"] == "FAILED"
    assert "Is a directory" in bad["message"] or "not-a-database" in bad["message"]
    opened = bad["tasks"]["open-database"]
    assert opened["state"] == "FAILED"
    assert opened["run_count"] == 3  # the first try and two retries
    assert opened["history"].count("AwaitingRetry") == 2
    assert opened["history"][-1] == "Failed"
    assert "ingest-inbox" not in bad["tasks"]  # nothing ran after the failure


def test_prefect_yaml_deployments_load_and_take_their_parameters():
    """Each entrypoint loads the way a worker loads it (a fresh process) and takes its parameters."""
    import yaml

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    weekly = next(d for d in spec["deployments"] if d["entrypoint"] == "flows.pipeline:pipeline_flow")
    assert weekly["schedules"] == [{"cron": "0 6 * * 1", "timezone": "UTC"}]
    assert {d["work_pool"]["name"] for d in spec["deployments"]} == {"demand-forecast"}
    script = (
        "import json, sys\n"
        "from prefect.flows import load_flow_from_entrypoint\n"
        "for d in json.loads(sys.argv[1]):\n"
        "    flow = load_flow_from_entrypoint(d['entrypoint'])\n"
        "    flow.validate_parameters(d['parameters'])  # raises on a name or type the flow lacks\n"
        "    print('LOADED', flow.name)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(spec["deployments"])],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["LOADED", "pipeline", "LOADED", "forecast", "LOADED", "ingest"]


def _cli(*args, env_extra=None, cwd=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | (env_extra or {})
    return subprocess.run(
        [str(BIN / "demand-forecast"), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_serve_without_a_prefect_api_says_how_to_start_one(tmp_path):
    done = _cli("serve", env_extra={"PREFECT_HOME": str(tmp_path)})
    assert done.returncode == 1
    assert "prefect server start" in done.stderr and "PREFECT_API_URL" in done.stderr


def test_a_bad_config_file_is_a_one_line_error(tmp_path):
    config = tmp_path / "pipeline.toml"
    config.write_text("[forecast]\nsamplr = 'nutpie'\n")
    done = _cli("pipeline", "--config", str(config), env_extra={"PREFECT_HOME": str(tmp_path)})
    assert done.returncode == 1
    assert done.stderr.startswith("error: unknown setting(s) ['samplr'] in [forecast]")
    done = _cli(
        "serve", "--config", str(tmp_path / "missing.toml"), env_extra={"PREFECT_HOME": str(tmp_path)}
    )
    assert done.returncode == 1 and done.stderr.startswith("error: config file not found")
