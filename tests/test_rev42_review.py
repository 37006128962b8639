"""Faults a review of the session's merged changes found, each with the test that failed
before its fix, through the real CLI."""

from __future__ import annotations

import pytest
from workspace_repo import Repo

_TYPED_ENUM = """\
type: pipeline
inputs:
  mode:
    type: {type}
    default: {default}
    enum: {enum}
jobs:
  j:
    command: echo ${{{{inputs.m}}}} > ${{{{outputs.o}}}}
    inputs:
      m: ${{{{parent.inputs.mode}}}}
    outputs:
      o: {{type: uri_file}}
"""


@pytest.mark.parametrize(
    "typ, default, enum, other, shown",
    [
        ("integer", '"1"', "[1, 2]", "2", ("1", "2")),
        ("number", '"0.5"', "[0.5, 1.5]", "1.5", ("0.5", "1.5")),
        ("boolean", '"False"', "[true, false]", "true", ("False", "True")),
        ("integer", '"1"', '["1", "2"]', "2", ("1", "2")),
    ],
)
def test_an_azureml_pipeline_input_enum_takes_a_default_written_as_text(repo: Repo, typ, default, enum, other, shown):
    """azure-ai-ml writes a default as text ('1' of an integer input): it ran before the
    pipeline-level enum was kept, then was refused, exit 2 ('mode' is '1', which is not one
    of its enum values [1, 2]). The default and the enum are compared as the type reads them,
    and a -p value in the enum is taken, one outside refused."""
    repo.write("pipeline.yml", _TYPED_ENUM.format(type=typ, default=default, enum=enum), dedent=False)
    got = repo.pipe("run", "-f", "pipeline.yml")
    assert got.code == 0, str(got)
    assert repo.read(".azureml-outputs/pipeline/j/o/o").strip() == shown[0]
    got = repo.pipe("run", "-f", "pipeline.yml", "-p", f"mode={other}")
    assert got.code == 0, str(got)
    assert repo.read(".azureml-outputs/pipeline/j/o/o").strip() == shown[1]
    if typ == "integer":
        got = repo.pipe("run", "-f", "pipeline.yml", "-p", "mode=3")
        assert got.code == 2, str(got)
        assert "-p mode=3: param 'mode' is 3, which is not one of its enum values" in got.err, str(got)
