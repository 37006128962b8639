"""Params and expansion limits: faults found in review, each kept fixed. Real `pipe` runs in
temporary workspaces; no mocks."""

from __future__ import annotations

import pytest

_COMPONENT = """\
inputs:
  n: {type: integer, min: 1, max: 10, enum: [1, 2, 3, 5, 10]}
command: echo n=${{inputs.n}}
"""

_PIPELINE = """\
type: pipeline
inputs:
  scale: 5
jobs:
  a:
    component: ./c.yml
    inputs:
      n: ${{parent.inputs.scale}}
"""


@pytest.mark.parametrize(
    ("value", "says", "fix"),
    [
        ("20", "param 'scale' is 20, above the max 10 of input 'n' of job 'a'", "hint: give a value of at most 10"),
        ("0", "param 'scale' is 0, below the min 1 of input 'n' of job 'a'", "hint: give a value of at least 1"),
        ("4", "param 'scale' is 4, which input 'n' of job 'a' does not take", "hint: give one of: 1, 2, 3, 5, 10"),
    ],
)
def test_a_command_line_value_is_held_to_the_component_inputs_limits(repo, value, says, fix):
    # `-p scale=20` ran the step with 20 where the component says max: 10 (the same value
    # written as the input's default is refused at load): -p went past enum, min and max.
    repo.write("c.yml", _COMPONENT, dedent=False)
    repo.write("pipeline.yml", _PIPELINE, dedent=False)
    for cmd in ("validate", "run"):
        r = repo.pipe(cmd, "-f", "pipeline.yml", "-p", f"scale={value}")
        assert r.code == 2, str(r)
        assert f"c.yml:2:6: -p scale={value}: {says}" in r.err and fix in r.err, r.err
    assert "n=" not in r.out + r.err
    ok = repo.pipe("run", "-f", "pipeline.yml", "-p", "scale=10")
    assert ok.code == 0 and "a | n=10" in ok.err, str(ok)


_TEN = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"


def _run_bounded(repo, *args):
    """`pipe ARGS` under a memory and time ceiling: before the bound these took minutes and
    gigabytes (or ran until killed)."""
    import resource
    import subprocess
    import sys

    def ceiling():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    p = subprocess.run(
        [sys.executable, "-m", "pipefile", *args],
        cwd=repo.root,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=ceiling,
        env={**__import__("os").environ, "PYTHONPATH": str(__import__("pathlib").Path(__file__).parents[1])},
    )
    return p.returncode, p.stderr


@pytest.mark.parametrize(
    ("step", "says", "fix"),
    [
        (
            "    sweep:\n      trials: 100000000\n      space: {x: {uniform: [0, 1]}}\n    inputs: {x: {type: number}}\n",
            "Pipefile:4:15: the sweep of step 't' makes 100,000,000 trials, more than the 100,000 tasks a step may have",
            "hint: set trials: 100000 or fewer",
        ),
        (
            "    matrix:\n"
            + "".join(f"      {a}: {_TEN}\n" for a in "abcdefgh")
            + "    inputs: {"
            + ", ".join(f"{a}: {{type: integer}}" for a in "abcdefgh")
            + "}\n",
            "Pipefile:3:5: the matrix of step 't' makes 100,000,000 combinations, more than the 100,000 tasks",
            "hint: give the axes fewer values, or split the matrix",
        ),
        (
            "    sweep:\n      search: grid\n      space: {"
            + ", ".join(f"{a}: {{choice: {_TEN}}}" for a in "abcdefgh")
            + "}\n    inputs: {"
            + ", ".join(f"{a}: {{type: integer}}" for a in "abcdefgh")
            + "}\n",
            "Pipefile:5:14: the sweep of step 't' makes 100,000,000 trials",
            "hint: give the choices fewer values, or set trials: 100000 or fewer",
        ),
    ],
)
def test_a_step_of_astronomically_many_tasks_is_refused_before_any_is_made(repo, step, says, fix):
    # `trials: 100000000` (or a matrix or grid of that many combinations) made `pipe status`
    # run for minutes and take gigabytes before it said anything.
    repo.write(
        "Pipefile",
        "steps:\n  t:\n" + step + "    command: echo hi > ${{outputs.o}}\n    outputs: {o: build/o}\n",
        dedent=False,
    )
    for cmd in ("status", "validate"):
        code, err = _run_bounded(repo, cmd)
        assert code == 2, err
        assert says in err and fix in err, err


def test_a_grid_far_larger_than_its_trials_makes_only_those_trials(repo):
    # (the whole grid was listed, then cut to `trials`: 100,000,000 combinations for 3 trials)
    space = ", ".join(f"{a}: {{choice: {_TEN}}}" for a in "abcdefgh")
    repo.write(
        "Pipefile",
        f"steps:\n  t:\n    sweep: {{search: grid, trials: 3, space: {{{space}}}}}\n"
        "    inputs: {" + ", ".join(f"{a}: {{type: integer}}" for a in "abcdefgh") + "}\n"
        "    command: echo ${{inputs.a}}${{inputs.h}} > ${{outputs.o}}\n    outputs: {o: build/o}\n",
        dedent=False,
    )
    code, err = _run_bounded(repo, "run")
    assert code == 0 and "succeeded: 3 ran" in err, err


def test_an_azure_ml_sweep_of_astronomically_many_trials_is_refused_at_its_limit(repo):
    repo.write(
        "trial.yml",
        "name: t\ninputs:\n  x: {type: number}\noutputs:\n  m: {type: uri_folder}\n"
        "command: echo ${{inputs.x}} > ${{outputs.m}}/x\n",
        dedent=False,
    )
    repo.write(
        "pipeline.yml",
        "type: pipeline\njobs:\n  s:\n    type: sweep\n    trial: ./trial.yml\n"
        "    search_space:\n      x: {type: uniform, min_value: 0, max_value: 1}\n"
        "    objective: {primary_metric: acc, goal: maximize}\n"
        "    limits: {max_total_trials: 100000000}\n",
        dedent=False,
    )
    code, err = _run_bounded(repo, "status", "-f", "pipeline.yml")
    assert code == 2, err
    assert "pipeline.yml:9:32: sweep job 's' makes 100,000,000 trials, more than the 100,000" in err, err
    assert "hint: set limits.max_total_trials: 100000 or fewer" in err, err
