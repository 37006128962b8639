"""Review of the sweep distributions session 46 added (quniform ... qlognormal): odd bounds,
tiny q, huge sigma. Each was an internal error (exit 70) or a sweep that could not vary;
checked with the real `pipe` CLI in a temporary workspace."""

from __future__ import annotations

import pytest
from workspace_repo import Repo

SWEEP = """\
steps:
  t:
    sweep:
      search: random
      trials: 4
      space: {x: {SPACE}, c: {choice: [a, b]}}
    inputs: {x: {type: number}, c: {type: string}}
    command: echo ${{inputs.x}} ${{inputs.c}} > ${{outputs.o}}
    outputs: {o: build/t.txt}
"""


@pytest.mark.parametrize(
    "space,says",
    [
        # a draw divided by q past a float: round() of inf, an OverflowError (exit 70)
        ("quniform: [0, 1e300, 1e-300]", "with q not so small: its draws divided by q pass a float"),
        ("quniform: [0, 1, 1e-320]", "with q not so small"),
        ("qnormal: [0, 1e200, 1e-200]", "with q not so small"),
        ("qlognormal: [700, 1, 1e-300]", "with q not so small"),
        # draws of inf (mu + z sigma past a float): a trial with x=inf
        ("normal: [1e308, 1e308]", "|mu| + 8 sigma at most about 1.8e308"),
        # no multiple of q in the range: every trial drew 0.0, outside it
        ("quniform: [1, 2, 5]", "with a multiple of q between low and high: every draw falls outside"),
        ("qloguniform: [1, 3, 10]", "with a multiple of q between low and high"),
    ],
)
def test_a_distribution_that_cannot_draw_is_refused_at_its_line_not_an_internal_error(repo: Repo, space, says):
    repo.pipefile(SWEEP.replace("SPACE", space))
    for cmd in (["validate"], ["status"], ["sweep", "show", "t"], ["run"]):
        r = repo.pipe(*cmd)
        assert r.code == 2 and r.err.startswith("Pipefile:6:") and says in r.err, (cmd, str(r))
        assert "internal error" not in r.err and "hint: write " in r.err, str(r)
    assert not repo.exists("build")


@pytest.mark.parametrize(
    "space",
    ["quniform: [10, 200, 30]", "quniform: [0.3, 0.6, 0.1]", "quniform: [0, 1e300, 1e-7]", "qnormal: [0, 1, 0.1]"],
)
def test_a_distribution_at_the_edge_of_those_still_runs(repo: Repo, space):
    repo.pipefile(SWEEP.replace("SPACE", space))
    r = repo.pipe("run")
    assert r.code == 0 and "4 ran" in r.err, str(r)


def test_a_draw_never_overflows_even_past_the_loads_bounds():
    # (the load refuses these; a draw past 8 sigma, or an importer's values, must not stop pipe)
    import math
    import random

    from pipefile.expand import draw

    for kind, vs in (("quniform", (0, 1e300, 1e-300)), ("qnormal", (0.0, 1e300, 1e-10))):
        v = draw(random.Random(1), kind, vs)
        assert math.isfinite(v), (kind, v)
