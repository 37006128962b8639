"""A sweep whose objective a trial does not give as a number (missing, NaN, a string), end
to end through `pipe run`: after the trials, exit 2 at the sweep's `objective:` naming the
trial and what its file holds, with or without a step reading the best trial. (The metric
no trial writes: test_compose.py, test_sweep_search.py.)"""

from __future__ import annotations

import pytest

SWEEP = """\
version: 1
steps:
  train:
    sweep:
      search: grid
      space:
        k: {choice: [1, 2, 3]}
      objective: {metric: acc, goal: maximize}
    inputs: {k: {type: integer}}
    command: python3 w.py ${{inputs.k}} ${{outputs.metrics}}
    outputs: {metrics: build/trials}
    metrics: build/trials
"""

BEST_READER = """\
  use:
    inputs: {m: "${{steps.train.best.outputs.metrics}}"}
    command: cp ${{inputs.m}} ${{outputs.x}}
    outputs: {x: build/best.json}
"""

# trial-2 writes `acc` as given; the others a number
WRITER = """\
import sys
k = int(sys.argv[1])
open(sys.argv[2], "w").write('{"acc": %s, "loss": 1}' % ({2: %r}.get(k) or k))
"""


@pytest.mark.parametrize("reader", [False, True], ids=["alone", "with-best-reader"])
@pytest.mark.parametrize(
    "written, said",
    [
        (".nan", "gives 'acc' as NaN"),  # (the trial's entry has no extension: YAML)
        ('"high"', "gives 'acc' as \"high\""),
        (".inf", "gives 'acc' as Infinity"),
        (None, "have no 'acc' (they have: loss)"),
    ],
    ids=["nan", "string", "inf", "missing"],
)
def test_a_trial_whose_objective_is_not_a_number_is_a_located_error(repo, reader, written, said):
    text = SWEEP + (BEST_READER if reader else "")
    repo.pipefile(text)
    if written is None:
        repo.write(
            "w.py",
            'import sys\nopen(sys.argv[2], "w").write(\'{"acc": 1, "loss": 1}\' if sys.argv[1] != "2" else \'{"loss": 1}\')\n',
        )
    else:
        repo.write("w.py", WRITER.replace("%r", repr(written)))
    r = repo.pipe("run")
    # A Pipefile's mistake, said after the trials (was: exit 1 from `train.best`, or a NaN or a
    # string reported as "no numbers")
    assert r.code == 2, str(r)
    line = next(i for i, x in enumerate(text.splitlines(), 1) if x.strip().startswith("objective:"))
    assert f"Pipefile:{line}:" in r.err, r.err
    assert "the objective metric 'acc' of sweep 'train' is not known for train[trial-2]" in r.err, r.err
    assert said in r.err, r.err
    assert "hint:" in r.err
