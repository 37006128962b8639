"""What Azure ML refuses when a pipeline job is submitted (azure-ai-ml's own checks, offline),
refused by pipe too, at its line, exit 2, saying what Azure requires: a pipeline that runs
here must not be one Azure turns down. Real `pipe` runs in temporary workspaces; where
azure-ai-ml is installed (PIPE_TEST_AZUREML_PYTHON) each case is also fed to it, to hold
that Azure does refuse it."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

_COMPONENT = """\
type: command
name: c
version: 1
environment: azureml:AzureML-sklearn-1.5@latest
command: echo ${{{{inputs.x}}}}
inputs:
  x: {decl}
"""

_PIPELINE = "type: pipeline\njobs:\n  a:\n    component: ./c.yml\n"

# What azure-ai-ml says of the same file (a part of its message), to hold that it refuses it
_AZURE_CHECK = """\
import sys, warnings, logging
warnings.filterwarnings("ignore"); logging.disable(logging.CRITICAL)
from azure.ai.ml import load_component
try:
    load_component(sys.argv[1])
except Exception as e:
    print("refused:", e)
else:
    print("accepted")
"""


def _azure_says(repo, file: str) -> str:
    py = os.environ.get("PIPE_TEST_AZUREML_PYTHON")
    if not py or not os.path.exists(py):
        pytest.skip("azure-ai-ml is not installed (set PIPE_TEST_AZUREML_PYTHON): checked against pipe only")
    r = subprocess.run([py, "-c", _AZURE_CHECK, file], cwd=repo.root, capture_output=True, text=True, timeout=300)
    return r.stdout


@pytest.mark.parametrize(
    ("decl", "says", "fix", "azure"),
    [
        (
            "{type: integer, default: abc}",
            "component input 'x' is integer, but its default is 'abc'",
            "hint: write a whole number, without quotes: 3",
            "cannot be parsed",
        ),
        (
            "{type: boolean, default: maybe}",
            "component input 'x' is boolean, but its default is 'maybe'",
            "hint: write true or false, without quotes",
            "only accept True/False",
        ),
        (
            "{type: string, default: a, min: 1}",
            "component input 'x' is string: it cannot have min:",
            "hint: remove min: (Azure ML takes min and max on integer and number inputs only)",
            "parameter 'min' should be None",
        ),
        (
            "{type: number, default: 1, min: abc}",
            "component input 'x': min must be a number, not 'abc'",
            "hint: min: 10",
            "could not convert",
        ),
        (
            "{type: uri_folder, default: ./d}",
            "component input 'x' is uri_folder: Azure ML takes no default for it",
            "hint: bind it in the job's inputs: (x: {type: uri_folder, path: ./data}), or declare it optional: true",
            "refused",
        ),
        (
            "{type: string, default: '1', enum: [1, 2]}",
            "component input 'x': enum value 1 is not text",
            "hint: quote them, as Azure ML takes only text in a string input's enum: enum: ['1', '2']",
            "Not a valid string",
        ),
        (  # (azure-ai-ml takes these offline; the default is what a run leaving x unbound uses)
            "{type: integer, default: 20, min: 0, max: 10}",
            "component input 'x': its default 20 is above its max 10",
            "hint: give a default of at most 10, or change its max:",
            None,
        ),
        (
            "{type: string, default: c, enum: [a, b]}",
            "component input 'x': its default 'c' is not one of ['a', 'b']",
            "hint: give a default from the enum, or add 'c' to it (at line 7)",
            None,
        ),
        (
            "{type: string, default: a, enum: a}",
            "component input 'x': enum must be a list, not 'a'",
            "hint: enum: [a, b]",
            "Not a valid list",
        ),
    ],
    ids=[
        "int-text",
        "bool-text",
        "min-on-string",
        "min-text",
        "path-default",
        "enum-numbers",
        "above-max",
        "enum",
        "enum-text",
    ],
)
def test_a_component_input_azure_refuses_is_refused_at_its_line(repo, decl, says, fix, azure):
    # Each ran here (exit 0, the default rendered as written), and the same pipeline was
    # turned down by Azure ML when submitted.
    repo.write("c.yml", _COMPONENT.format(decl=decl), dedent=False)
    repo.write("pipeline.yml", _PIPELINE, dedent=False)
    repo.write("envmap.yml", "azureml:AzureML-sklearn-1.5@latest: local\n")
    env = {"PIPE_AZUREML_ENV_MAP": str(repo.root / "envmap.yml")}
    for cmd in ("validate", "run"):
        r = repo.pipe(cmd, "-f", "pipeline.yml", env=env)
        assert r.code == 2, str(r)
        assert re.search(rf"^c\.yml:7:\d+: {re.escape(says)}\n  {re.escape(fix)}$", r.err, re.M), r.err
    assert not (repo.root / ".azureml-outputs").exists()
    if azure is not None:
        assert azure in _azure_says(repo, "c.yml")


def test_a_component_input_azure_takes_still_runs(repo):
    # (the checks above refuse no more than that: a numeric text default, as azure-ai-ml
    # writes defaults, and a default inside its bounds and enum run)
    decls = "{type: number, default: '0.5', min: 0, max: 1}\n  k: {type: string, default: b, enum: [a, b]}"
    text = _COMPONENT.format(decl=decls).replace("${{inputs.x}}", "${{inputs.x}} ${{inputs.k}}")
    repo.write("c.yml", text, dedent=False)
    repo.write("pipeline.yml", _PIPELINE, dedent=False)
    repo.write("envmap.yml", "azureml:AzureML-sklearn-1.5@latest: local\n")
    r = repo.pipe("run", "-f", "pipeline.yml", env={"PIPE_AZUREML_ENV_MAP": str(repo.root / "envmap.yml")})
    assert r.code == 0 and "a | 0.5 b" in r.err, str(r)


_INNER = """\
type: pipeline
outputs:
  cleaned: {type: uri_folder}
jobs:
  clean:
    command: echo hi > ${{outputs.out}}/hi.txt
    outputs:
      out: ${{parent.outputs.claned}}
"""


@pytest.mark.parametrize(
    ("pipeline", "says", "fix"),
    [
        (
            "type: pipeline\njobs:\n  a:\n    command: echo hi > ${{outputs.o}}/o.txt\n    outputs:\n"
            "      o: ${{parent.outputs.model}}\n",
            "pipeline.yml:6:10: job 'a': output 'o' is bound to ${{parent.outputs.model}}, "
            "which the pipeline does not declare",
            "hint: declare it in the pipeline's outputs: (model: {type: uri_folder})",
        ),
        (
            "type: pipeline\njobs:\n  prep:\n    type: pipeline\n    component: ./inner.yml\n",
            "inner.yml:8:12: job 'prep/clean': output 'out' is bound to ${{parent.outputs.claned}}, "
            "which the pipeline component of 'prep' does not declare",
            "hint: did you mean 'cleaned'?",
        ),
    ],
    ids=["top", "nested"],
)
def test_an_output_bound_to_a_pipeline_output_not_declared_is_refused(repo, pipeline, says, fix):
    # Azure refuses it ("Failed to find top level definition for output binding"); here the
    # job ran and its output landed where no pipeline output named it (a typo went unseen).
    repo.write("pipeline.yml", pipeline, dedent=False)
    repo.write("inner.yml", _INNER, dedent=False)
    r = repo.pipe("run", "-f", "pipeline.yml")
    assert r.code == 2, str(r)
    assert f"{says}\n  {fix}\n" in r.err and r.err.count("is bound to") == 1, r.err
    assert not (repo.root / ".azureml-outputs").exists()
    repo.write(
        "pipeline.yml", pipeline.replace("model}}", "model}}\noutputs:\n  model: {type: uri_folder}"), dedent=False
    )
    repo.write("inner.yml", _INNER.replace("claned", "cleaned"), dedent=False)
    r = repo.pipe("run", "-f", "pipeline.yml")
    assert r.code == 0, str(r)


@pytest.mark.parametrize(("name", "fix"), [("prep-data", "prep_data"), ("Train", "train"), ("9x", "_9x")])
def test_a_job_name_azure_refuses_is_refused_at_its_line(repo, name, fix):
    # azure-ai-ml takes a node name of lower-case letters, digits and '_' only ("Pipeline node
    # name should be a valid python identifier"); `prep-data` and `Train` ran here.
    repo.write("pipeline.yml", f"type: pipeline\njobs:\n  ok:\n    command: echo ok\n  {name}:\n    command: echo hi\n")
    r = repo.pipe("run", "-f", "pipeline.yml")
    assert r.code == 2, str(r)
    says = f"pipeline.yml:6:5: '{name}' is not a job name Azure ML takes (lower-case letters, digits and '_', "
    assert says in r.err and f"hint: rename it, e.g. {fix}\n" in r.err, r.err
    # a standalone job is named after its file, which Azure does not name so: it still runs
    repo.write("my-job.yml", "type: command\ncommand: echo alone\n")
    r = repo.pipe("run", "-f", "my-job.yml")
    assert r.code == 0 and "my-job | alone" in r.err, str(r)


def test_a_required_input_left_unbound_is_refused_even_inside_optional_brackets(repo):
    # $[[ ]] drops only an optional input on Azure: a required one left unbound fails the job's
    # validation ("Required input 'x' for component 'a' not provided"); here it was dropped
    # and the job ran (exit 0).
    decls = "{type: integer}\n  y: {type: integer, optional: true}"
    text = _COMPONENT.format(decl=decls).replace("${{inputs.x}}", "$[[--x ${{inputs.x}}]] $[[--y ${{inputs.y}}]]")
    repo.write("c.yml", text, dedent=False)
    repo.write("pipeline.yml", _PIPELINE, dedent=False)
    repo.write("envmap.yml", "azureml:AzureML-sklearn-1.5@latest: local\n")
    env = {"PIPE_AZUREML_ENV_MAP": str(repo.root / "envmap.yml")}
    r = repo.pipe("run", "-f", "pipeline.yml", env=env)
    assert r.code == 2, str(r)
    says = "c.yml:5:10: job 'a': input 'x' is required and not bound (Azure ML refuses the job: "
    assert says in r.err and "hint: bind it in the job's inputs:, or declare it optional: true (at line 7)" in r.err
    # bound, it runs; the optional one is still dropped
    repo.write("pipeline.yml", _PIPELINE + "    inputs:\n      x: 3\n", dedent=False)
    r = repo.pipe("run", "-f", "pipeline.yml", env=env)
    assert r.code == 0 and "a | --x 3" in r.err, str(r)


@pytest.mark.parametrize(
    ("pipeline", "component", "says", "fix"),
    [
        (
            "type: pipeline\njobs:\n  a:\n    command: echo ${{outputs.o}}\n    outputs:\n      o: {type: number}\n",
            None,
            "pipeline.yml:6:17: job 'a': output 'o': Azure ML takes no type 'number' for a job's output",
            "hint: known type names: 'custom_model', 'mlflow_model', 'mltable', 'triton_model', 'uri_file', 'uri_folder'",
        ),
        (
            _PIPELINE,
            "command: echo ${{outputs.o}}\noutputs:\n  o: {type: uri_fold}\n",
            "c.yml:3:13: job 'a': output 'o': Azure ML takes no type 'uri_fold' for an output",
            "hint: did you mean 'uri_folder'?",
        ),
        (
            _PIPELINE,
            "command: echo ${{outputs.o}}\noutputs:\n  o: {type: uri_folder, mode: copy}\n",
            "c.yml:3:31: job 'a': output 'o': Azure ML takes no mode 'copy'",
            "hint: mode: one of rw_mount, upload, mount, direct",
        ),
    ],
    ids=["job-output-number", "unknown-type", "unknown-mode"],
)
def test_an_output_type_or_mode_azure_refuses_is_refused_at_its_line(repo, pipeline, component, says, fix):
    # Each was read as a uri_folder (its mode ignored) without a word, and the job ran;
    # azure-ai-ml refuses each (type and mode are from closed sets).
    repo.write("pipeline.yml", pipeline, dedent=False)
    if component:
        repo.write(
            "c.yml",
            "type: command\nname: c\nversion: 1\nenvironment: azureml:AzureML-sklearn-1.5@latest\n" + component,
            dedent=False,
        )
        says = says.replace("c.yml:3:", "c.yml:7:")
    r = repo.pipe("run", "-f", "pipeline.yml")
    assert r.code == 2, str(r)
    assert f"{says}\n  {fix}" in r.err and r.err.count("Azure ML takes no") == 1, r.err
    assert not (repo.root / ".azureml-outputs").exists()
    if component:
        assert "refused" in _azure_says(repo, "c.yml")


@pytest.mark.parametrize(
    ("text", "says", "fix"),
    [
        (
            "type: spark\njobs:\n  a: {}\n",
            "x.yml:1:7: a 'spark' job; pipe imports pipeline, command and sweep jobs",
            "run it on Azure, or rewrite it as a command job",
        ),
        (
            "type: pipeline\ndescription: d\n",
            "x.yml:1:7: a pipeline job with no jobs:",
            "add its jobs: {NAME: {command: ..., inputs: ...}}",
        ),
        (
            "$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json\ntype: command\n"
            "command: echo\n",
            "x.yml:1:10: a component, not a job (its $schema is a component's)",
            "give the pipeline job that uses it (component: ./x.yml)",
        ),
        (
            "- a\n- b\n",
            "x.yml:1:1: not an Azure ML job (at its top level no `type: pipeline`",
            "give the job's YAML (the file you pass to `az ml job create --file`)",
        ),
        (
            "type: pipeline\njobs: []\n",
            "x.yml:2:7: jobs: must be a mapping of job names to jobs",
            "jobs: {NAME: {command: ..., inputs: ...}}",
        ),
    ],
    ids=["spark", "no-jobs", "component", "list", "jobs-list"],
)
def test_pipe_import_azureml_says_what_the_file_is_at_its_line_with_the_fix(repo, text, says, fix):
    # Each was "x.yml: not an Azure ML job (...)" with no line, whatever the file was (a spark
    # job, a component, a pipeline missing its jobs), or a located error with no fix.
    repo.write("x.yml", text, dedent=False)
    r = repo.pipe("import", "azureml", "x.yml", "-o", "Pipefile")
    assert r.code == 2 and not (repo.root / "Pipefile").exists(), str(r)
    assert says in r.err and f"hint: {fix}" in r.err, r.err


@pytest.mark.parametrize("written", ['"false"', "no", "off"])
def test_optional_written_as_text_is_read_as_azure_reads_it(repo, written):
    # `optional: "false"` (or YAML 1.1's `no`, as azure-ai-ml reads YAML) is false on Azure:
    # the input is required. Here bool("false") made it optional: its $[[ ]] was dropped and
    # the job ran, where Azure refuses it ("Required input 'x' for component 'a' not provided").
    decl = f"{{type: string, optional: {written}}}"
    text = _COMPONENT.format(decl=decl).replace("${{inputs.x}}", "$[[${{inputs.x}}]]")
    repo.write("c.yml", text, dedent=False)
    repo.write("pipeline.yml", _PIPELINE, dedent=False)
    repo.write("envmap.yml", "azureml:AzureML-sklearn-1.5@latest: local\n")
    env = {"PIPE_AZUREML_ENV_MAP": str(repo.root / "envmap.yml")}
    r = repo.pipe("validate", "-f", "pipeline.yml", env=env)
    assert r.code == 2 and "job 'a': input 'x' is required and not bound" in r.err, str(r)
    repo.write("c.yml", text.replace(written, '"maybe"'), dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml", env=env)
    assert r.code == 2 and "c.yml:7:" in r.err and "optional must be true or false, not 'maybe'" in r.err, str(r)
    repo.write("c.yml", text.replace(written, '"yes"'), dedent=False)  # (true: it may be left out)
    assert repo.pipe("run", "-f", "pipeline.yml", env=env).code == 0
