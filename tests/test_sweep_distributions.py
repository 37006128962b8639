"""A sweep's distributions beyond choice/uniform/loguniform/randint: Azure ML's quniform,
qloguniform, normal, lognormal, qnormal and qlognormal (load/sweep_space.py, expand.draw).
Before, a Pipefile could not name them and an Azure ML sweep job using one was refused.
The loader and the draws in process; one real `pipe run` of a sweep; Azure ML YAML loaded."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from workspace_repo import validation_errors

from pipefile.expand import draw

SWEEP = """\
steps:
  t:
    sweep:
      search: SEARCH
      trials: 4
      space: {x: SPACE}
    inputs: {x: {type: TYPE}}
    command: echo ${{inputs.x}} > ${{outputs.o}}
    outputs: {o: build/t.txt}
"""


def _said(tmp_path, space: str, typ: str = "number", search: str = "random") -> list:
    (tmp_path / "Pipefile").write_text(SWEEP.replace("SPACE", space).replace("TYPE", typ).replace("SEARCH", search))
    return [f"{e.loc}: {e.message} (hint: {e.hint})" for e in validation_errors(tmp_path)]


@pytest.mark.parametrize(
    "space,typ",
    [
        ("{quniform: [10, 200, 10]}", "integer"),
        ("{quniform: [0.0, 1.0, 0.05]}", "number"),
        ("{qloguniform: [1, 1000, 1]}", "integer"),
        ("{normal: [0.5, 0.1]}", "number"),
        ("{lognormal: [-4.6, 1.0]}", "number"),
        ("{qnormal: [100, 20, 5]}", "integer"),
        ("{qlognormal: [3.0, 0.5, 1]}", "integer"),
    ],
)
def test_each_distribution_is_read_for_a_random_search(tmp_path, space, typ):
    assert _said(tmp_path, space, typ) == []


@pytest.mark.parametrize(
    "space,typ,search,says",
    [
        (
            "{quniform: [10, 200]}",
            "number",
            "random",
            "quniform of input 'x' in the sweep of step 't' must be [low, high, q]: 3 numbers (hint: write quniform: [10, 200, 10])",
        ),
        ("{quniform: [10, 200, 0]}", "number", "random", "must be [low, high, q] with q above 0"),
        ("{quniform: [200, 10, 5]}", "number", "random", "must be [low, high, q] with low < high"),
        ("{qloguniform: [0, 10, 1]}", "number", "random", "with low above 0"),
        ("{normal: [0.5, 0]}", "number", "random", "must be [mu, sigma] with sigma above 0"),
        ("{normal: [.nan, 1]}", "number", "random", "must be [mu, sigma]: finite numbers"),
        ("{uniform: [-.inf, 1]}", "number", "random", "must be [low, high]: finite numbers"),  # drew nan before
        ("{lognormal: [700, 10]}", "number", "random", "mu + 8 sigma at most 709"),
        ("{quniform: [0.0, 1.0, 0.5]}", "integer", "random", "draws numbers (quniform), but the input is an integer"),
        (
            "{normal: [0, 1]}",
            "number",
            "bayesian",
            "a bayesian search draws from choice, uniform, loguniform and randint, not normal",
        ),
        ("{quniform: [1, 9, 2]}", "number", "grid", "a grid search takes choice: lists only, not quniform"),
    ],
)
def test_bad_arguments_are_refused_at_their_line(tmp_path, space, typ, search, says):
    if search == "bayesian":
        pytest.importorskip("optuna")
    got = [g for g in _said(tmp_path, space, typ, search) if "needs an objective" not in g]
    assert len(got) == 1 and "Pipefile:" in got[0] and says in got[0], got


def test_draws_fall_where_each_distribution_puts_them():
    rng = random.Random(3)
    q = [draw(rng, "quniform", (10, 200, 10)) for _ in range(500)]
    assert all(type(v) is int and v % 10 == 0 and 10 <= v <= 200 for v in q)
    assert {10, 200} <= set(q)  # the ends are reached
    f = [draw(rng, "quniform", (0.0, 1.0, 0.05)) for _ in range(200)]
    assert all(type(v) is float and math.isclose(round(v / 0.05) * 0.05, v, abs_tol=1e-9) for v in f)
    n = [draw(rng, "normal", (0.5, 0.1)) for _ in range(2000)]
    assert abs(statistics.mean(n) - 0.5) < 0.01 and abs(statistics.stdev(n) - 0.1) < 0.01
    ln = [draw(rng, "lognormal", (-4.6, 1.0)) for _ in range(2000)]
    assert all(v > 0 for v in ln) and abs(statistics.mean(math.log(v) for v in ln) + 4.6) < 0.1
    qln = [draw(rng, "qlognormal", (3.0, 0.5, 1)) for _ in range(200)]
    assert all(type(v) is int and v >= 0 for v in qln)
    assert all(1 <= draw(rng, "qloguniform", (1, 1000, 1)) <= 1000 for _ in range(200))
    # far past a float's exp: kept within (docs/pipefile.md), never an OverflowError
    assert math.isfinite(draw(random.Random(1), "lognormal", (700.0, 1.0)))


def test_the_draws_of_the_first_four_are_what_they_were():
    # A sweep's trials are keyed by their drawn values: a change of these would run every
    # existing random sweep's trials again.
    rng = random.Random("pipe-sweep:7:1")
    assert draw(rng, "uniform", (0.0, 0.5)) == float(f"{random.Random('pipe-sweep:7:1').uniform(0.0, 0.5):.6g}")
    rng = random.Random("pipe-sweep:7:2")
    want = float(f"{math.exp(random.Random('pipe-sweep:7:2').uniform(math.log(1e-4), math.log(0.1))):.6g}")
    assert draw(rng, "loguniform", (1e-4, 0.1)) == want
    assert draw(random.Random(5), "randint", (1, 4)) == random.Random(5).randint(1, 4)
    assert draw(random.Random(5), "choice", (3, 5, 8)) == (3, 5, 8)[random.Random(5).randrange(3)]


def test_a_quniform_sweep_runs_whole_numbers_into_an_integer_input_and_reruns_nothing(repo):
    repo.pipefile("""
        steps:
          t:
            sweep:
              search: random
              trials: 5
              seed: 2
              space: {n: {quniform: [10, 100, 10]}, w: {normal: [0.5, 0.1]}}
            inputs: {n: {type: integer}, w: {type: number}}
            command: echo ${{inputs.n}} ${{inputs.w}} > ${{outputs.o}}
            outputs: {o: build/t}
    """)
    out = repo.outcomes()
    assert sum(o == "ran" for o in out.values()) == 5, out
    for k in range(1, 6):
        n, w = repo.read(f"build/t/trial-{k}").split()
        assert n.isdigit() and int(n) % 10 == 0 and 10 <= int(n) <= 100, n
        assert 0.0 < float(w) < 1.0, w
    assert not any(o == "ran" for o in repo.outcomes().values())


AZURE = """\
type: pipeline
jobs:
  s:
    type: sweep
    trial:
      inputs: {n: {type: integer}, lr: {type: number}, w: {type: number}}
      command: echo ${{inputs.n}} ${{inputs.lr}} ${{inputs.w}}
    search_space:
      n: {type: quniform, min_value: 10, max_value: 100, q: 10}
      lr: {type: qloguniform, min_value: -9.2, max_value: -2.3, q: 0.0001}
      w: {type: NORMAL, mu: 0.5, sigma: 0.1}
    sampling_algorithm: ALG
    objective: {primary_metric: acc}
    limits: {max_total_trials: 6}
"""


def test_an_azure_sweep_job_samples_azures_other_distributions(tmp_path):
    # Before: "'n' is sampled from a 'quniform' distribution, which pipe does not sample yet".
    from pipefile import speccache

    (tmp_path / "pipeline.yml").write_text(AZURE.replace("ALG", "random").replace("NORMAL", "normal"))
    assert validation_errors(tmp_path, pipefile="pipeline.yml") == []
    import os

    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        graph = speccache.load_graph("pipeline.yml", [], freeze=False)
    finally:
        os.chdir(old)
    trials = [n for n in graph.nodes.values() if "[trial-" in n.name]
    assert len(trials) == 6
    for node in trials:
        n, lr, w = (node.inputs[k].value for k in ("n", "lr", "w"))
        assert type(n) is int and n % 10 == 0, n
        assert math.exp(-9.2) - 1e-4 <= lr <= math.exp(-2.3) + 1e-4, lr  # Azure's bounds are exponents
        assert isinstance(w, float), w


def test_an_azure_bayesian_sweep_over_a_quniform_is_refused_at_its_line(tmp_path):
    (tmp_path / "pipeline.yml").write_text(AZURE.replace("ALG", "bayesian").replace("NORMAL", "normal"))
    got = [f"{e.loc}: {e.message}" for e in validation_errors(tmp_path, pipefile="pipeline.yml")]
    assert (
        len(got) == 1
        and "pipeline.yml:9:10: sweep job 's' is a bayesian search, but 'n' is sampled from 'quniform'" in got[0]
    ), got
