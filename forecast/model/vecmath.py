"""``exp`` and ``log1p`` written so that numba's loops over them vectorize (AVX2: four rows at once).

A call to the C library's ``exp`` or ``log1p`` cannot be vectorized by LLVM without Intel's SVML,
which pip's llvmlite does not link, and each costs 10-20 ns per row: most of the likelihood's time
(``benchmarks/gradient.py``). These are the textbook constructions from plain arithmetic, accurate to
a few units in the last place:

- ``exp_nonpos(x)``, x <= 0: x = k ln 2 + r with |r| <= ln 2 / 2 (Cody-Waite, ln 2 split in two,
  each step a fused multiply-add that the loops' reassociation cannot merge),
  exp(r) from its Taylor polynomial to r**13 (truncation error below 1e-17), times 2**k built from the
  exponent bits. Below -708 the result is exp(-708) (~3e-308) rather than a subnormal or zero.
- ``log1p_unit(e)``, 0 <= e <= 1: log(1 + e) = 2 atanh(u), u = e / (2 + e) <= 1/3, from the series in
  u**2 to u**33 (truncation error below 1e-17).

Polynomials are evaluated in Estrin's scheme (short dependency chains). Loops calling these are
compiled with ``FASTMATH`` and ``error_model="numpy"`` (no division-by-zero checks, which would
stop vectorization); LLVM inlines the calls and vectorizes the loop.
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

# Reassociation (vectorized sums) and fused multiply-adds, but no assumption that values are finite.
FASTMATH = {"contract", "reassoc", "nsz", "arcp"}

_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LOG2E = 1.4426950408889634
_ROUND = 6755399441055744.0  # 1.5 * 2**52: adding it leaves an integer-valued double's value in its low bits
_ROUND_BITS = 0x4338000000000000


@intrinsic
def _bits(typingctx, x):
    """The IEEE bits of a float64, as an int64."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, x):
    """The float64 with the given IEEE bits."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c with one rounding (an LLVM fma, which reassociation leaves alone)."""

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return types.float64(types.float64, types.float64, types.float64), codegen


@intrinsic
def _floor(typingctx, x):
    """floor(x) as a float64 (LLVM's ``floor``, one vector instruction). numba's ``math.floor``
    returns an int64, which AVX2 converts back to a double lane by lane."""

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.floor", [ir.DoubleType()])
        return builder.call(fn, args)

    return types.float64(types.float64), codegen


@numba.njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def exp_nonpos(x):
    """exp(x) for x <= 0."""
    x = max(x, -708.0)
    kf = _floor(x * _LOG2E + 0.5)
    r = _fma(-kf, _LN2_LO, _fma(-kf, _LN2_HI, x))  # exact steps, kept apart: see _fma
    r2 = r * r
    r4 = r2 * r2
    low = ((1.0 + r) + r2 * (0.5 + r * (1.0 / 6.0))) + r4 * (
        (1.0 / 24.0 + r * (1.0 / 120.0)) + r2 * (1.0 / 720.0 + r * (1.0 / 5040.0))
    )
    high = ((1.0 / 40320.0 + r * (1.0 / 362880.0)) + r2 * (1.0 / 3628800.0 + r * (1.0 / 39916800.0))) + r4 * (
        1.0 / 479001600.0 + r * (1.0 / 6227020800.0)
    )
    k = _bits(kf + _ROUND) - _ROUND_BITS
    return (low + (r4 * r4) * high) * _from_bits((k + 1023) << 52)


@numba.njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def log1p_unit(e):
    """log(1 + e) for 0 <= e <= 1."""
    return _log1p_series(e / (2.0 + e))


@numba.njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def _log1p_series(u):
    """log(1 + e) = 2 atanh(u) from u = e / (2 + e), 0 <= u <= 1/3."""
    v = u * u
    v2 = v * v
    v4 = v2 * v2
    v8 = v4 * v4
    a = (1.0 + v * (1.0 / 3.0)) + v2 * (1.0 / 5.0 + v * (1.0 / 7.0))
    b = (1.0 / 9.0 + v * (1.0 / 11.0)) + v2 * (1.0 / 13.0 + v * (1.0 / 15.0))
    c = (1.0 / 17.0 + v * (1.0 / 19.0)) + v2 * (1.0 / 21.0 + v * (1.0 / 23.0))
    d = (1.0 / 25.0 + v * (1.0 / 27.0)) + v2 * (1.0 / 29.0 + v * (1.0 / 31.0))
    return 2.0 * u * ((a + v4 * b) + v8 * ((c + v4 * d) + v8 * (1.0 / 33.0)))


@numba.njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def softplus_sigmoid(d):
    """log(1 + exp(d)) and 1 / (1 + exp(-d)), for any d."""
    e = exp_nonpos(-abs(d))
    # one division for both 1 / (1 + e) and e / (2 + e): divisions are the slowest vector instruction
    q = 1.0 / ((1.0 + e) * (2.0 + e))
    inv = (2.0 + e) * q
    return max(d, 0.0) + _log1p_series(e * (1.0 + e) * q), (inv if d >= 0.0 else e * inv)
