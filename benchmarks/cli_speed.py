"""Wall time of short commands, each in a fresh process as a user types it: ingest of a small file,
expected errors (a bad file, an unknown option value, a malformed option) and ``sql``.

Usage: ``uv run python benchmarks/cli_speed.py [--repeats 3]``. Each command runs ``--repeats``
times; the median is reported with the lines it printed on stderr. For comparison, the same ingest
as a Prefect flow (what the command ran before: a temporary Prefect server per call).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import save

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).with_name("demand-forecast"))


def sales_file(folder: Path, weeks: int = 20, products: int = 5) -> Path:
    rows = [
        f"2026-{1 + w // 4:02d}-{1 + 7 * (w % 4):02d},P{p},{(w * 7 + p) % 9}"
        for w in range(weeks)
        for p in range(products)
    ]
    path = folder / "sales.csv"
    path.write_text("date,product_id,quantity\n" + "\n".join(rows) + "\n")
    (folder / "products.csv").write_text(
        "product_id,category,brand,color\n"
        + "\n".join(f"P{p},cat{p % 2},brand{p % 3},color{p % 2}" for p in range(products))
        + "\n"
    )
    return path


def timed(command: list[str], repeats: int, fresh: Path | None = None) -> dict:
    seconds, lines, code = [], 0, 0
    for _ in range(repeats):
        if fresh is not None:
            fresh.unlink(missing_ok=True)
        t0 = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        seconds.append(time.perf_counter() - t0)
        lines, code = len(result.stderr.strip().splitlines()), result.returncode
    return {"median_s": round(statistics.median(seconds), 2), "runs_s": [round(s, 2) for s in seconds],
            "exit_code": code, "stderr_lines": lines}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sales = sales_file(folder)
        products = folder / "products.csv"
        db = folder / "d.duckdb"
        header_only = folder / "header.csv"
        header_only.write_text("date,product_id,quantity\n")
        ingest = [CLI, "ingest", "--sales", str(sales), "--products", str(products), "--db", str(db)]
        flow = [sys.executable, "-c",
                "import sys; from flows.ingest import ingest_flow; ingest_flow(*sys.argv[1:3], db=sys.argv[3])",
                str(sales), str(products), str(db)]  # fmt: skip
        cases = {
            "ingest, 100 rows (steps run directly)": (ingest, db),
            "ingest, 100 rows, as a Prefect flow (temporary server; before)": (flow, db),
        }
        results = {name: timed(command, args.repeats, fresh) for name, (command, fresh) in cases.items()}
        subprocess.run(ingest, check=True, capture_output=True)
        queries = ROOT / "sql" / "queries" / "category_totals.sql"
        cases = {
            "ingest error: header-only sales file": [
                CLI, "ingest", "--sales", str(header_only), "--products", str(products), "--db", str(db)],
            "option error: forecast --sampler gibbs": [CLI, "forecast", "--db", str(db), "--sampler", "gibbs"],
            "option error: forecast --nested category,region": [
                CLI, "forecast", "--db", str(db), "--nested", "category,region"],
            "usage error: forecast --horizon soon": [CLI, "forecast", "--db", str(db), "--horizon", "soon"],
            "sql: select from sales": [CLI, "sql", "select * from sales order by date limit 5", "--db", str(db)],
            "sql --file sql/queries/category_totals.sql": [CLI, "sql", "--file", str(queries), "--db", str(db)],
        }  # fmt: skip
        results |= {name: timed(command, args.repeats) for name, command in cases.items()}
    for name, r in results.items():
        print(f"{name:70s} {r['median_s']:6.2f} s  exit {r['exit_code']}  stderr lines {r['stderr_lines']}")
    save("cli_speed", {"repeats": args.repeats, "results": results})


if __name__ == "__main__":
    main()
