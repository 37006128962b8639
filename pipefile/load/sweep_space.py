"""A sweep's `space:`: the distribution each input's trials are drawn from, read with located
errors into `(input, kind, values)` triples (drawn by expand.draw, proposed by proposals.py).

    choice: [v, ...]        one of the values          uniform: [lo, hi]       lo <= x <= hi
    loguniform: [lo, hi]    exp(uniform(log lo, log hi)), 0 < lo
    randint: [lo, hi]       a whole number, lo <= n <= hi
    quniform: [lo, hi, q]   round(uniform(lo, hi) / q) * q      qloguniform: [lo, hi, q]  the same of loguniform
    normal: [mu, sigma]     a normal draw                       lognormal: [mu, sigma]    exp(normal(mu, sigma))
    qnormal: [mu, sigma, q], qlognormal: [mu, sigma, q]         rounded to a multiple of q

The q forms and the normal ones are Azure ML's (its sweep jobs use them, load/azureml/sweep.py
maps them here); with a whole q they draw whole numbers, which an integer input takes. A grid
search takes choice only, a bayesian one (Optuna's TPE) the first four.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional

from ..expand import MAX_EXPONENT, ROUNDED
from .reader import NodeReader, is_mapping

if TYPE_CHECKING:
    from yaml import Node

DISTRIBUTIONS = (
    "choice",
    "uniform",
    "loguniform",
    "randint",
    "quniform",
    "qloguniform",
    "normal",
    "lognormal",
    "qnormal",
    "qlognormal",
)
BAYESIAN = ("choice", "uniform", "loguniform", "randint")  # what Optuna's distributions hold
_ARGUMENTS = {
    "uniform": "[low, high]",
    "loguniform": "[low, high]",
    "randint": "[low, high]",
    "quniform": "[low, high, q]",
    "qloguniform": "[low, high, q]",
    "normal": "[mu, sigma]",
    "lognormal": "[mu, sigma]",
    "qnormal": "[mu, sigma, q]",
    "qlognormal": "[mu, sigma, q]",
}
_EXAMPLE = {
    "uniform": "uniform: [0.0, 1.0]",
    "loguniform": "loguniform: [0.0001, 0.1]",
    "randint": "randint: [1, 10]",
    "quniform": "quniform: [10, 200, 10]",
    "qloguniform": "qloguniform: [1, 1000, 1]",
    "normal": "normal: [0.5, 0.1]",
    "lognormal": "lognormal: [-4.6, 1.0]",
    "qnormal": "qnormal: [100, 20, 5]",
    "qlognormal": "qlognormal: [3.0, 0.5, 1]",
}
_HINT = (
    "write one of choice: [...], uniform: [lo, hi], loguniform: [lo, hi], randint: [lo, hi], quniform: [lo, hi, q] ..."
)


def read(r: NodeReader, node: Optional[Node], parent: Node, where: str, search: str) -> Optional[tuple]:
    """The `space:` of a sweep (at `parent`), or None with errors said."""
    if node is None:
        r.error(parent, f"{where} has no space:", "add space: {INPUT: {choice: [...]}}")
        return None
    out = []
    items = r.mapping(node, f"the space of {where}")
    if not items and is_mapping(node):
        r.error(node, f"the space of {where} is empty", "add at least one input: {INPUT: {choice: [...]}}")
        return None
    for name, kn, vn in items:
        if not r.name_ok(name, kn, "input"):
            continue
        dist = r.mapping(vn, f"the space of input '{name}' in {where}", DISTRIBUTIONS)
        if len(dist) != 1:
            if dist or is_mapping(vn):
                r.error(vn, f"input '{name}' in {where} needs exactly one distribution", _HINT)
            continue
        kind, _dk, dv = dist[0]
        values = r.scalar_list(dv, f"{kind} of input '{name}' in {where}")
        if values is None:
            continue
        if kind == "choice":
            if not values:
                r.error(dv, f"choice of input '{name}' in {where} is empty", "list at least one value")
                continue
            if search == "grid" and len(set(map(repr, values))) != len(values):  # (as a matrix axis)
                twice = f"choice of input '{name}' in {where} lists a value twice: two grid trials, one combination"
                r.error(dv, twice, "list each value once")
                continue
        else:
            if search == "grid":
                r.error(dv, f"a grid search takes choice: lists only, not {kind}", "list the values: choice: [...]")
                continue
            if search == "bayesian" and kind not in BAYESIAN:
                r.error(
                    dv,
                    f"a bayesian search draws from choice, uniform, loguniform and randint, not {kind}",
                    "use search: random for it, or one of those four",
                )
                continue
            wrong = problem(kind, values)
            if wrong:
                r.error(dv, f"{kind} of input '{name}' in {where} {wrong}", f"write {_EXAMPLE[kind]}")
                continue
        out.append((name, kind, values))
    return tuple(out)


def problem(kind: str, values: tuple) -> str:
    """What is wrong with the arguments of a distribution other than choice ("" when nothing)."""
    shape = f"must be {_ARGUMENTS[kind]}"
    want = 3 if kind in ROUNDED else 2
    if len(values) != want or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        return f"{shape}: {want} numbers"
    if not all(math.isfinite(v) for v in values):  # (uniform: [-.inf, 1] drew nothing usable)
        return f"{shape}: finite numbers"
    if kind in ROUNDED and values[2] <= 0:
        return f"{shape} with q above 0"
    if kind.endswith("normal"):  # normal, lognormal, qnormal, qlognormal
        if values[1] <= 0:
            return f"{shape} with sigma above 0"
        if kind.endswith("lognormal") and values[0] + 8 * values[1] > MAX_EXPONENT:
            return f"{shape}, its draws exp(x) within a float: mu + 8 sigma at most {MAX_EXPONENT:g}"
        if not math.isfinite(abs(values[0]) + 8 * values[1]):  # (normal: [1e308, 1e308] drew inf)
            return f"{shape}, its draws within a float: |mu| + 8 sigma at most about 1.8e308"
        return _q_fits(kind, values)
    lo, hi = values[0], values[1]
    if kind == "randint" and not (isinstance(lo, int) and isinstance(hi, int)):
        return f"{shape}: whole numbers"
    if kind in ("loguniform", "qloguniform") and lo <= 0:
        return f"{shape} with low above 0"
    if lo >= hi:
        return f"{shape} with low < high"
    return _q_fits(kind, values)


def _q_fits(kind: str, values: tuple) -> str:
    """What is wrong with a q form's q for its range ("" when nothing): a draw divided by a q
    far smaller than it passes a float (`quniform: [0, 1e300, 1e-300]` stopped pipe, exit 70)."""
    if kind not in ROUNDED:
        return ""
    a, b, q = values
    if kind in ("quniform", "qloguniform"):
        far = max(abs(a), abs(b))
    elif kind == "qnormal":
        far = abs(a) + 8 * b
    else:
        far = math.exp(min(a + 8 * b, MAX_EXPONENT))
    if not math.isfinite(far / q):
        return f"must be {_ARGUMENTS[kind]} with q not so small: its draws divided by q pass a float"
    if kind in ("quniform", "qloguniform") and math.floor(b / q + 1e-9) < math.ceil(a / q - 1e-9):
        # (quniform: [1, 2, 5] drew 0 every time: one value, outside the range)
        return f"must be {_ARGUMENTS[kind]} with a multiple of q between low and high: every draw falls outside"
    return ""


def draws_whole(kind: str, values: tuple) -> bool:
    """Whether every draw is a whole number (which an integer input takes)."""
    return kind == "randint" or (kind in ROUNDED and _whole(values[2]))


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
