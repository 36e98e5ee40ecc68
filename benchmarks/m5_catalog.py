"""Write the M5-shaped catalog (``forecast.prep.m5``) to files: products.csv, events.csv,
sales.parquet (chunk by chunk) and truth.npz; print rows, file sizes, seconds and peak memory.

Usage: ``uv run python benchmarks/m5_catalog.py --freq D --out /tmp/m5_daily`` (the full catalog:
3,049 items x 10 stores, 1,826 days, about 55 M rows; ``--freq W``: 260 weeks, about 7.9 M rows).
``--items`` and ``--periods`` make it smaller; ``--late-share 0`` puts every product on sale from the
first day (the daily upper bound: 30,490 x 1,826 = 55.7 M rows). Nothing is downloaded; the data are generated.
Then ``benchmarks/m5_ingest.py`` (or ``demand-forecast ingest``) loads the files into DuckDB.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from forecast.prep.m5 import DEPARTMENTS, generate_m5


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--freq", choices=["D", "W"], default="D")
    parser.add_argument("--items", type=int, default=sum(DEPARTMENTS.values()))
    parser.add_argument("--periods", type=int, default=None, help="days or weeks [default: 5 years]")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--late-share", type=float, default=0.3, help="share of items launched late (0: all from day one)"
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--no-truth", action="store_true", help="do not write truth.npz")
    args = parser.parse_args()

    t0 = time.perf_counter()
    catalog = generate_m5(
        n_items=args.items,
        frequency=args.freq,
        n_periods=args.periods,
        seed=args.seed,
        late_share=args.late_share,
    )
    counts = catalog.write(args.out, truth=not args.no_truth)
    seconds = time.perf_counter() - t0
    sizes = {f.name: f.stat().st_size for f in sorted(args.out.iterdir()) if f.is_file()}
    print(
        f"M5-shaped catalog, {args.freq}: {args.items} items x {len(catalog.stores)} stores = "
        f"{counts['products']:,} products, {len(catalog.dates)} periods from {catalog.dates[0].date()}"
    )
    print(f"rows: sales {counts['sales']:,}, events {counts['events']:,}, products {counts['products']:,}")
    for name, size in sizes.items():
        print(f"  {args.out / name}: {size / 2**20:,.1f} MiB")
    print(f"seconds: {seconds:.1f}; peak memory (ru_maxrss): {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
