"""Shrinkage on its 0-1 scale: the weight of a product's groups in its level."""

import arviz as az
import numpy as np

from forecast.model.effects import product_effects


def _posterior(design, sigma_product: float, seed: int = 0) -> az.InferenceData:
    """A fake posterior of the right shapes (plumbing, not a fit): 2 chains x 50 draws."""
    rng = np.random.default_rng(seed)
    n_products, n_pool = len(design.products), design.n_pool

    def draws(*shape, loc=0.0, scale=0.1):
        return loc + scale * rng.standard_normal((2, 50, *shape))

    values = {
        "alpha_product": draws(n_products, scale=0.5),
        "intercept": draws(),
        "trend": draws(n_pool, scale=0.01),
        "elasticity": draws(n_pool, loc=-1.0),
        "promo": draws(n_pool, loc=0.3),
        "sigma_product": np.full((2, 50), sigma_product),
        "log_alpha": draws(loc=1.0),
    }
    for attr, idx in design.level_idx.items():
        values[f"effect_{attr}"] = draws(int(idx.max()) + 1)
    return az.from_dict(posterior=values)


def test_shrinkage_is_a_weight_that_falls_with_information_and_spread(tiny_design):
    eff = product_effects(_posterior(tiny_design, 0.5), tiny_design)
    s = eff["shrinkage"]
    assert s.notna().all() and ((s > 0) & (s <= 1)).all()
    assert (s[eff["n_obs"] == 0] == 1).all() and (s[eff["n_obs"] > 0] < 1).all()
    # the more rows (information) a product has, the less it leans on its groups
    assert eff[eff["n_obs"] > 0][["n_obs", "shrinkage"]].corr(method="spearman").iloc[0, 1] < 0
    # products spread wider around their groups borrow less from them
    wider = product_effects(_posterior(tiny_design, 2.0), tiny_design)["shrinkage"]
    assert (wider[eff["n_obs"] > 0] < s[eff["n_obs"] > 0]).all()


def test_no_pooling_has_no_shrinkage(tiny_design):
    idata = _posterior(tiny_design, 0.5)
    del idata.posterior["sigma_product"]
    assert product_effects(idata, tiny_design)["shrinkage"].isna().all()
