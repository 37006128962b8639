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
