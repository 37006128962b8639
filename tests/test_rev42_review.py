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


_STREAMS = """\
import json, os, sys
with open(os.environ["PIPE_METRICS_STREAM"], "a") as f:
    for i in range(5):
        f.write(json.dumps({"name": "loss", "value": 1 / (i + 1), "step": i}) + "\\n")
open(sys.argv[1], "w").write("ok\\n")
"""


def test_a_noop_after_gc_deleted_the_job_that_ran_a_step_keeps_its_series(repo: Repo):
    """gc --keep-last deleted the job that streamed step a's series, and kept a job that
    refers to it (a fresh a): the next no-op looked only for a job that ran a with its key,
    found none, and recorded a without its series or its last value ('job N has no
    streamed metrics'). It finds the points through the kept job that refers to them."""
    repo.write("gen.py", _STREAMS)
    body = "version: 1\nsteps:\n  a:\n    command: python3 gen.py ${{outputs.o}}\n    code: [gen.py]\n    outputs: {o: a.txt}\n"
    repo.pipefile(body)
    repo.pipe("run", check=True)  # job 1 runs a: the owner of its points
    repo.pipe("run", check=True)  # job 2: a fresh, a reference
    repo.pipefile(body + "  b:\n    command: echo b > ${{outputs.o}}\n    outputs: {o: b.txt}\n")
    repo.pipe("run", check=True)  # job 3 runs b, a fresh: a reference
    repo.pipe("gc", "--keep-last", "1", check=True)  # jobs 1 and 2 go; job 3's reference keeps the points
    for job in ("3", "4", "5"):
        if job != "3":
            repo.pipe("run", check=True)  # a no-op (the second one may be answered by its record)
        got = repo.pipe("metrics", "curve", job, "loss", "--json")
        assert got.code == 0, str(got)
        assert [p["value"] for p in got.json["points"]] == [1.0, 0.5, 1 / 3, 0.25, 0.2], got.json
        shown = repo.pipe("metrics", "show", job, "--json")
        assert shown.code == 0, str(shown)
        assert "0.2" in shown.out and "a.loss" in shown.out, str(shown)


_MAP_READ_BY_NAME = """\
version: 1
steps:
  each:
    foreach:
      over: ${{inputs.d}}
      error_threshold: 1
    inputs: {d: {type: uri_folder, path: data}}
    command: sh -c 'test "$(cat $0)" != b && cp $0 $1' ${{inputs.d}} ${{outputs.out}}
    outputs: {out: build/out/}
  one:
    inputs: {x: build/out/b}
    command: cp ${{inputs.x}} ${{outputs.o}}
    outputs: {o: one.txt}
"""


def test_a_step_reading_a_map_item_its_threshold_let_fail_is_told_of_the_map_not_of_a_sweep(repo: Repo):
    """A foreach item's task that failed within error_threshold, read by name: the message
    (c9c112b) pointed at trials and ${{steps.each.best.outputs.NAME}}, which a map has not."""
    for item in "abc":
        repo.write(f"data/{item}", item + "\n")
    repo.pipefile(_MAP_READ_BY_NAME)
    got = repo.pipe("run")
    assert got.code == 1, str(got)
    assert (
        "cannot run: input 'build/out/b' was not made: 'each[b]' failed, within the error_threshold of 'each', "
        "so it has no output; read the items that succeeded through ${{steps.each.outputs.NAME}}"
    ) in got.err, str(got)
    assert ".best" not in got.err and "trials" not in got.err, str(got)
