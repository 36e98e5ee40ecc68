"""demand-forecast: probabilistic retail demand forecasts from one Bayesian multilevel model."""

import os
from importlib.metadata import PackageNotFoundError, version

# PyTensor's C backend looks for a BLAS to link and warns when pip's wheels give it none. The
# samplers here run on numba (which calls SciPy's bundled OpenBLAS) and the few C-compiled graphs
# (posterior predictive draws) fall back to NumPy's own BLAS, so skip the search and its warning.
if "blas__ldflags" not in os.environ.get("PYTENSOR_FLAGS", ""):
    os.environ["PYTENSOR_FLAGS"] = ",".join(
        f for f in (os.environ.get("PYTENSOR_FLAGS", ""), "blas__ldflags=") if f
    )

try:
    __version__ = version("demand-forecast")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"
