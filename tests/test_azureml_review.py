"""Azure ML pipelines run here (docs/azureml.md): faults found in review, each kept fixed.
Real `pipe` runs in temporary workspaces; no mocks."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from workspace_repo import Repo

FIXTURES = Path(__file__).parent / "azureml_fixtures"


def _fixture(repo, name: str) -> None:
    shutil.copytree(FIXTURES / name, repo.root, dirs_exist_ok=True)


def _pipe(repo, *args):
    """`pipe ARGS` with the fixture's environment map (every environment -> this interpreter)."""
    return repo.pipe(*args, env={"PIPE_AZUREML_ENV_MAP": str(repo.root / "envmap.yml")})


_COPY = """\
import sys
with open(sys.argv[1]) as f:
    text = f.read()
with open(sys.argv[2] + "/copy.txt", "w") as f:
    f.write(text)
"""

_COPY_PIPELINE = """\
type: pipeline
inputs:
  data: {type: uri_file, path: ./data/in.txt}
jobs:
  copy:
    code: ./src
    command: python copy.py ${{inputs.data}} ${{outputs.out}}
    inputs:
      data: ${{parent.inputs.data}}
    outputs:
      out: {type: uri_folder}
"""


def test_a_workspace_whose_path_has_a_space_gives_each_path_as_one_word(tmp_path):
    # Azure's own paths never hold a space; a local workspace may ("My Projects"): the
    # absolute paths pipe writes into the command must still reach the script whole.
    (tmp_path / "t").mkdir()  # where the first word of a split path would point
    repo = Repo(tmp_path / "my projects")
    repo.root.mkdir()
    repo.write("src/copy.py", _COPY)
    repo.write("data/in.txt", "hello\n")
    repo.write("pipeline.yml", _COPY_PIPELINE)
    r = repo.pipe("run", "-f", "pipeline.yml")
    assert r.code == 0, str(r)
    assert repo.read(".azureml-outputs/pipeline/copy/out/copy.txt") == "hello\n"
    # a path without such characters is written as before: the step's key is unchanged
    r = repo.pipe("status", "-f", "pipeline.yml")
    assert r.code == 0 and "fresh" in r.out, str(r)
    assert not list(Path(tmp_path / "t").iterdir())


@pytest.mark.parametrize("size", ["-3", "0", "2.5", '"abc"', '"10kb"', "true"])
def test_a_bad_mini_batch_size_of_a_file_list_is_refused_at_its_line(repo, size):
    # -3 split the files into no mini-batch at all (the step "succeeded" with an empty
    # output); "abc" or "10kb" (a size, for tables only) failed in the driver with a traceback.
    _fixture(repo, "parallel")
    text = repo.read("pipeline.yml")
    assert 'mini_batch_size: "2"' in text
    repo.write("pipeline.yml", text.replace('mini_batch_size: "2"', f"mini_batch_size: {size}"), dedent=False)
    r = _pipe(repo, "run", "-f", "pipeline.yml", "count_words")
    assert r.code == 2, str(r)
    assert "pipeline.yml:19:22: mini_batch_size of parallel job 'count_words' must be a whole number" in r.err, r.err
    assert "hint: mini_batch_size: 10" in r.err


def test_a_tabular_mini_batch_size_is_a_size_or_a_count(repo):
    _fixture(repo, "parallel")
    text = repo.read("pipeline.yml")
    repo.write("pipeline.yml", text.replace('mini_batch_size: "12b"', 'mini_batch_size: "-1kb"'), dedent=False)
    r = _pipe(repo, "validate", "-f", "pipeline.yml")
    assert r.code == 2 and "or a size such as 10kb or 1mb (tabular data), not '-1kb'" in r.err, str(r)
    for good in ('"12b"', "10kb", "3"):
        repo.write("pipeline.yml", text.replace('mini_batch_size: "12b"', f"mini_batch_size: {good}"), dedent=False)
        r = _pipe(repo, "validate", "-f", "pipeline.yml")
        assert r.code == 0, str(r)


_UNIFORM_X = "        type: uniform\n        min_value: 0\n        max_value: 4\n"


@pytest.mark.parametrize(
    ("bounds", "says"),
    [
        ("type: loguniform|min_value: 0|max_value: 1000", "exp(0) to exp(1000) is past what a float holds"),
        ("type: loguniform|min_value: -1000|max_value: 1", "exp(-1000) to exp(1) is past what a float holds"),
        ("type: uniform|min_value: .nan|max_value: 4", "min_value and max_value must be finite numbers"),
        ("type: uniform|min_value: -.inf|max_value: 4", "min_value and max_value must be finite numbers"),
    ],
)
def test_a_sweep_bound_no_float_holds_is_refused_at_its_line(repo, bounds, says):
    # loguniform's bounds are exponents: exp(1000) was an internal error (exit 70); a .nan
    # bound passed the `min < max` check and every trial was given nan.
    _fixture(repo, "sweep")
    text = repo.read("pipeline.yml")
    assert _UNIFORM_X in text
    written = "".join(f"        {line}\n" for line in bounds.split("|"))
    repo.write("pipeline.yml", text.replace(_UNIFORM_X, written), dedent=False)
    r = _pipe(repo, "validate", "-f", "pipeline.yml")
    assert r.code == 2, str(r)
    assert "pipeline.yml:19:9: search_space of sweep job 'tune': 'x': " in r.err and says in r.err, r.err
    assert "internal error" not in r.err


def test_a_missing_component_or_conda_file_is_reported_at_the_line_naming_it(repo):
    # The error named the missing file alone: which of the pipeline's lines names it was left
    # to guess (a component used by several jobs, a conda file of an inline environment).
    repo.write(
        "pipeline.yml",
        """\
        type: pipeline
        jobs:
          a:
            component: ./components/trian.yml
          b:
            command: echo hi
            environment:
              image: python:3.11
              conda_file: ./conda.yml
          c:
            component: ./components
        """,
    )
    (repo.root / "components").mkdir()
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2, str(r)
    assert "pipeline.yml:4:16: components/trian.yml: no such file" in r.err, r.err
    assert "pipeline.yml:9:19: conda.yml: no such file" in r.err, r.err
    assert "pipeline.yml:11:16: " in r.err and "components: is a directory" in r.err, r.err


def test_a_conda_files_pip_requirements_file_is_the_venvs_and_keyed(repo):
    # `- -r requirements.txt` under pip: was dropped without a word: the venv lacked what it
    # lists, and an edit of it rebuilt nothing (its content was in no key).
    repo.write("env/requirements.txt", "six\n")
    repo.write(
        "env/conda.yml",
        """\
        name: x
        dependencies:
          - python=3.11
          - pip:
            - -r requirements.txt
            - pyyaml
        """,
    )
    repo.write(
        "pipeline.yml",
        """\
        type: pipeline
        jobs:
          a:
            command: python -c "import six"
            environment:
              image: python:3.11
              conda_file: ./env/conda.yml
        """,
    )

    def env() -> dict:
        r = repo.pipe("envs", "-f", "pipeline.yml", "--json")
        assert r.code == 0, str(r)
        return r.json["environments"][0]

    first = env()
    assert "-r env/requirements.txt" in first["detail"] and "pyyaml" in first["detail"], first
    # the Pipefile written from it has the same environment (the same identity, so keys)
    r = repo.pipe("import", "azureml", "pipeline.yml", "-o", "Pipefile")
    assert r.code == 0, str(r)
    assert "requirements: env/requirements.txt" in repo.read("Pipefile")
    r = repo.pipe("envs", "--json")
    assert r.code == 0 and r.json["environments"][0]["identity"] == first["identity"], str(r)
    repo.write("env/requirements.txt", "six==1.16.0\n")
    assert env()["identity"] != first["identity"]


def test_a_new_version_of_a_latest_component_is_seen_at_once(repo):
    # docs/azureml.md said, under "Not done", that a new YAML of a higher version is seen
    # only once the pipeline file changes; "Reuse" (and the code) say at once: this keeps it.
    repo.write("src/c.py", "import sys\nopen(sys.argv[1] + '/v.txt', 'w').write(sys.argv[2])\n")
    component = """\
    name: writer
    version: {v}
    outputs:
      o: {{type: uri_folder}}
    code: ../src
    command: python c.py ${{{{outputs.o}}}} v{v}
    """
    repo.write("components/v1.yml", component.format(v=1))
    repo.write("pipeline.yml", "type: pipeline\njobs:\n  w:\n    component: azureml:writer@latest\n", dedent=False)
    assert repo.pipe("run", "-f", "pipeline.yml").code == 0
    assert repo.read(".azureml-outputs/pipeline/w/o/v.txt") == "v1"
    repo.write("components/v2.yml", component.format(v=2))
    r = repo.pipe("run", "-f", "pipeline.yml")
    assert r.code == 0, str(r)
    assert repo.read(".azureml-outputs/pipeline/w/o/v.txt") == "v2"


def test_a_job_with_an_error_is_not_also_said_to_be_missing_by_what_reads_it(repo):
    # A job that failed to load was also "there is no job 'tune' here" at each job reading
    # its outputs: a second, false error (the job is there; its own error says what is wrong).
    _fixture(repo, "sweep")
    text = repo.read("pipeline.yml")
    repo.write("pipeline.yml", text.replace("primary_metric: loss", "primary_metrik: loss"), dedent=False)
    r = _pipe(repo, "validate", "-f", "pipeline.yml")
    assert r.code == 2, str(r)
    assert "sweep job 'tune' has no objective.primary_metric" in r.err, r.err
    assert "there is no job" not in r.err and "errors." not in r.err, r.err
    # a job that is truly not there is still named so
    repo.write("pipeline.yml", text.replace("parent.jobs.tune.", "parent.jobs.tun."), dedent=False)
    r = _pipe(repo, "validate", "-f", "pipeline.yml")
    assert r.code == 2 and "there is no job 'tun' here" in r.err, str(r)


def test_pipeline_components_nested_thousands_deep_are_refused_not_a_crash(repo):
    # Each level of nesting was a recursion of the reader: 3000 levels were an internal
    # error (RecursionError, exit 70). Past 100 levels it is refused at the job's line.
    depth = 3000
    for i in range(depth):
        inner = (
            f"  n:\n    type: pipeline\n    component: ./c{i + 1}.yml\n"
            if i < depth - 1
            else "  leaf:\n    command: echo hi\n"
        )
        repo.write(f"c{i}.yml", "type: pipeline\njobs:\n" + inner, dedent=False)
    repo.write(
        "pipeline.yml", "type: pipeline\njobs:\n  top:\n    type: pipeline\n    component: ./c0.yml\n", dedent=False
    )
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2, str(r)[:2000]
    assert "c99.yml:4:5: pipeline job 'top/n/" in r.err and "nests pipeline components more than 100 deep" in r.err


@pytest.mark.parametrize(
    ("conda", "says"),
    [
        ("dependencies: 5\n", "conda.yml:1:15: conda_file: dependencies must be a list"),
        ("dependencies:\n  - pip:\n      pandas: 1\n", "conda.yml:3:7: conda_file: pip must be a list of requirements"),
    ],
)
def test_a_conda_file_of_the_wrong_shape_is_refused_at_its_line_not_a_crash(repo, conda, says):
    # (both were an internal error, exit 70: TypeError: 'int' object is not iterable)
    repo.write("conda.yml", conda, dedent=False)
    repo.write(
        "pipeline.yml",
        "type: pipeline\njobs:\n  a:\n    command: echo\n"
        "    environment: {image: 'python:3.11', conda_file: ./conda.yml}\n",
        dedent=False,
    )
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2 and says in r.err and "internal error" not in r.err, str(r)


@pytest.mark.parametrize("limits", ["{timeout: -5}", "{timeout: 0}", '{timeout: "1h"}', "7"])
def test_a_timeout_that_is_no_number_of_seconds_is_refused_not_dropped(repo, limits):
    # limits.timeout: -5 (or 0, "1h", limits: 7) was ignored without a word: the node ran
    # with no time limit at all, where Azure refuses the job.
    repo.write(
        "pipeline.yml", f"type: pipeline\njobs:\n  a:\n    command: echo hi\n    limits: {limits}\n", dedent=False
    )
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2, str(r)
    assert "pipeline.yml:5:" in r.err and "job 'a': limits" in r.err and "limits: {timeout: 3600}" in r.err, r.err


@pytest.mark.parametrize(
    ("bound", "says", "fix"),
    [
        ('"3"', "input 'n' of job 'a' is integer, not '3'", "hint: write a whole number, without quotes: 3"),
        (
            "30",
            "input 'n' of job 'a': 30 is above its max 10",
            "hint: bind a value of at most 10 (the component's max:)",
        ),
        ("0", "input 'n' of job 'a': 0 is below its min 1", "hint: bind a value of at least 1 (the component's min:)"),
        (
            "4",
            "input 'n' of job 'a': 4 is not one of [1, 2, 3, 5, 10]",
            "hint: bind one of the enum's values (the component's enum:)",
        ),
    ],
)
def test_a_literal_the_component_refuses_is_reported_with_the_fix(repo, bound, says, fix):
    # (these errors named the line and the fault but gave no fix, as every error must)
    repo.write(
        "c.yml",
        """\
        inputs:
          n: {type: integer, min: 1, max: 10, enum: [1, 2, 3, 5, 10]}
        command: echo ${{inputs.n}}
        """,
    )
    repo.write(
        "pipeline.yml",
        f"type: pipeline\njobs:\n  a:\n    component: ./c.yml\n    inputs:\n      n: {bound}\n",
        dedent=False,
    )
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2, str(r)
    assert f"pipeline.yml:6:10: {says}\n  {fix}" in r.err, r.err


def test_an_mltable_of_files_splits_by_a_size(repo):
    # Was: the load took "10b" (a size is allowed for an MLTable), and the driver failed on it
    # with a traceback (int('10b')) when the MLTable lists files with no table reader.
    _fixture(repo, "parallel")
    for i in range(1, 6):
        repo.write(f"data/docstab/doc{i}.txt", " ".join(["w"] * i) + "\n")  # 2, 4, 6, 8, 10 bytes
    repo.write("data/docstab/MLTable", "paths:\n  - pattern: ./*.txt\n")
    text = repo.read("pipeline.yml")
    text = text.replace(
        "        type: uri_folder\n        path: ./data/docs", "        type: mltable\n        path: ./data/docstab"
    )
    text = text.replace(
        "max_concurrency_per_instance: 2", "max_concurrency_per_instance: 1"
    )  # (one process: calls count)
    repo.write("pipeline.yml", text.replace('mini_batch_size: "2"', 'mini_batch_size: "10b"'), dedent=False)
    r = _pipe(repo, "run", "-f", "pipeline.yml", "count_words")
    assert r.code == 0, str(r)
    lines = repo.read(".azureml-outputs/pipeline/count_words/counts/counts").splitlines()
    # files in order, a batch closed once it holds 10 bytes: doc1-3 (12 bytes), then doc4-5
    assert [ln.split()[0] for ln in lines] == [f"doc{i}.txt" for i in range(1, 6)], lines
    assert [ln.rsplit("(call ", 1)[1] for ln in lines] == ["1)", "1)", "1)", "2)", "2)"], lines


_LIST_INPUTS = """\
type: pipeline
inputs:
  lr: [1, 2]
  kind: {type: string, default: [a, b], enum: [a, b]}
jobs:
  c:
    component: ./c.yml
    inputs:
      x: ${{parent.inputs.lr}}
      y: ${{parent.inputs.kind}}
"""


def test_a_pipeline_input_given_a_list_is_said_once(repo):
    # Each such input was also said as a list param only a foreach maps over, outside its
    # enum, and again at each job binding it ("is number, not [1, 2]"): 7 errors for 2.
    repo.write("pipeline.yml", _LIST_INPUTS)
    repo.write(
        "c.yml",
        "type: command\ninputs:\n  x: {type: number}\n  y: {type: string, enum: [a, b]}\n"
        "command: echo ${{inputs.x}} ${{inputs.y}}\n",
    )
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2, str(r)
    lines = [line for line in r.err.splitlines() if line.startswith("pipeline.yml:")]
    assert lines == [
        "pipeline.yml:3:7: pipeline input 'lr': a list or mapping is not a value",
        "pipeline.yml:4:9: pipeline input 'kind': a list or mapping is not a value",
    ], r.err


_UNSET_INPUTS = """\
type: pipeline
inputs:
  lr: {type: number, optional: true}
  tag:
  mode: {type: string, optional: true, enum: [fast, slow]}
jobs:
  c:
    component: ./c.yml
    inputs:
      lr: ${{parent.inputs.lr}}
      tag: ${{parent.inputs.tag}}
      mode: ${{parent.inputs.mode}}
"""

_UNSET_COMPONENT = """\
type: command
inputs:
  lr: {type: number, optional: true}
  tag: {type: string, optional: true}
  mode: {type: string, default: fast, enum: [fast, slow]}
command: echo lr=$[[${{inputs.lr}}]] tag=$[[${{inputs.tag}}]] mode=${{inputs.mode}} > ${{outputs.o}}/o.txt
outputs:
  o: {type: uri_folder}
"""


def test_a_pipeline_input_with_no_value_is_set_with_p(repo):
    # Azure takes such an input's value from `az ml job create --set inputs.lr=0.5`; here
    # `-p lr=0.5` said "the Pipefile has no param 'lr'" (exit 2): it could not be set at all.
    repo.write("pipeline.yml", _UNSET_INPUTS)
    repo.write("c.yml", _UNSET_COMPONENT)
    out = ".azureml-outputs/pipeline/c/o/o.txt"
    r = repo.pipe("run", "-f", "pipeline.yml")
    assert r.code == 0, str(r)
    assert repo.read(out) == "lr= tag= mode=fast\n"
    r = repo.pipe("run", "-f", "pipeline.yml", "-p", "lr=0.5", "-p", "tag=v1", "-p", "mode=slow")
    assert r.code == 0, str(r)
    assert repo.read(out) == "lr=0.5 tag=v1 mode=slow\n"
    # its type and enum hold a -p value as a default's would be held
    r = repo.pipe("run", "-f", "pipeline.yml", "-p", "lr=abc")
    assert r.code == 2 and "pipeline.yml:3:7: -p lr=abc: param 'lr' is a number" in r.err, str(r)
    r = repo.pipe("run", "-f", "pipeline.yml", "-p", "mode=medium")
    assert r.code == 2 and "pipeline.yml:5:9: -p mode=medium: param 'mode' is 'medium'" in r.err, str(r)
    # unset again: the input is left out again
    r = repo.pipe("run", "-f", "pipeline.yml")
    assert r.code == 0 and repo.read(out) == "lr= tag= mode=fast\n", str(r)


def test_the_export_of_an_input_left_unbound_loads_and_keeps_its_key(repo):
    # An inline job's input that nothing binds (used in $[[ ]] only, as Azure allows) was
    # exported as a required input of its component: the Pipefile refused its own step
    # ("does not connect required input 'lr'", exit 2). So did one bound to a pipeline input
    # with no value.
    repo.write(
        "pipeline.yml",
        "type: pipeline\ninputs:\n  tag:\njobs:\n  t:\n"
        "    command: echo lr=$[[${{inputs.lr}}]] tag=$[[${{inputs.tag}}]] > ${{outputs.o}}/o.txt\n"
        "    inputs:\n      lr: {type: number}\n      tag: ${{parent.inputs.tag}}\n"
        "    outputs:\n      o: {type: uri_folder}\n",
    )
    r = repo.pipe("run", "-f", "pipeline.yml")
    assert r.code == 0 and repo.read(".azureml-outputs/pipeline/t/o/o.txt") == "lr= tag=\n", str(r)
    r = repo.pipe("import", "azureml", "pipeline.yml", "-o", "Pipefile")
    assert r.code == 0, str(r)
    r = repo.pipe("status", "--json")
    assert r.code == 0 and [s["state"] for s in r.json["steps"]] == ["fresh"], str(r)


_NUMBERS_COMPONENT = """\
type: command
inputs:
  d1: {type: number, default: 1}
  d2: {type: number, default: 1e-5}
  d3: {type: number, default: 2.50}
  p1: {type: number}
  p2: {type: number}
  t1: {type: number}
  w1: {type: number}
  i1: {type: integer, default: 3}
  b1: {type: boolean, default: true}
command: echo ${{inputs.d1}} ${{inputs.d2}} ${{inputs.d3}} ${{inputs.p1}} ${{inputs.p2}} ${{inputs.t1}} ${{inputs.w1}} ${{inputs.i1}} ${{inputs.b1}}
environment: azureml:AzureML-sklearn-1.5@latest
"""

_NUMBERS_PIPELINE = """\
type: pipeline
inputs:
  whole: 1
  small: 0.00001
jobs:
  j:
    component: ./c.yml
    inputs:
      p1: ${{parent.inputs.whole}}
      p2: ${{parent.inputs.small}}
      t1: 1e-5
      w1: 2
"""

# What Azure writes into the command: each input's literal as azure-ai-ml sends it (the
# node's own, the pipeline input it binds, or the component's default, as it normalises it).
_AZURE_TEXT = """\
import json, re
from azure.ai.ml import load_job
job = load_job("pipeline.yml")
rest = job._to_rest_object().as_dict()["properties"]
node = job.jobs["j"]
spec = node.component._to_rest_object().as_dict()["properties"]["componentSpec"]
own = rest["jobs"]["j"]["inputs"]
def text(name):
    if name in own:
        v = own[name]["value"]
        m = re.fullmatch(r"\\$\\{\\{parent\\.inputs\\.(\\w+)\\}\\}", v)
        return rest["inputs"][m.group(1)]["value"] if m else v
    return spec["inputs"][name]["default"]
print(re.sub(r"\\$\\{\\{inputs\\.(\\w+)\\}\\}", lambda m: text(m.group(1)), spec["command"]))
"""


def test_numbers_are_written_into_the_command_as_azure_writes_them(repo):
    # A whole default of a number input is 1.0 on Azure (azure-ai-ml sends it as a float), was
    # 1 here; a whole pipeline input bound to one is 1 there, was 1.0 here; and `1e-5` (text
    # by YAML 1.1, as Azure reads it) for a number input runs there as 1e-5, was refused here.
    repo.write("pipeline.yml", _NUMBERS_PIPELINE)
    repo.write("c.yml", _NUMBERS_COMPONENT)
    repo.write("envmap.yml", "azureml:AzureML-sklearn-1.5@latest: local\n")
    expected = "echo 1.0 1e-05 2.5 1 1e-05 1e-5 2 3 True"
    r = _pipe(repo, "run", "-f", "pipeline.yml")
    assert r.code == 0, str(r)
    assert f"j | {expected[5:]}" in r.err, str(r)
    # the Pipefile pipe import azureml writes renders the same (its step is fresh)
    r = _pipe(repo, "import", "azureml", "pipeline.yml", "-o", "Pipefile")
    assert r.code == 0, str(r)
    r = _pipe(repo, "status", "--json")
    assert r.code == 0 and [s["state"] for s in r.json["steps"]] == ["fresh"], str(r)
    py = os.environ.get("PIPE_TEST_AZUREML_PYTHON")
    if not py or not os.path.exists(py):
        pytest.skip("azure-ai-ml is not installed (set PIPE_TEST_AZUREML_PYTHON): checked against pipe's text only")
    azure = subprocess.run([py, "-c", _AZURE_TEXT], cwd=repo.root, capture_output=True, text=True, timeout=300)
    assert azure.returncode == 0, azure.stderr
    assert azure.stdout.strip() == expected, azure.stdout


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "type: pipeline\njobs:\n  a:\n    command: echo hi\n    outputs: [model]\n",
            "pipeline.yml:5:14: job 'a': outputs must be a mapping of names to outputs",
        ),
        (
            "type: pipeline\nsettings: [force_rerun]\njobs:\n  a:\n    command: echo hi\n",
            "pipeline.yml:2:11: settings: must be a mapping",
        ),
    ],
)
def test_outputs_or_settings_that_are_no_mapping_are_refused_at_their_line(repo, text, says):
    # Both were read as none at all, without a word (exit 0): the outputs the command was
    # meant to write, and force_rerun or continue_on_step_failure, silently gone.
    repo.write("pipeline.yml", text, dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2 and says in r.err, str(r)
    assert "hint: " in r.err


def test_booleans_written_as_text_are_read_as_azure_reads_them(repo):
    # azure-ai-ml reads force_rerun: "false" (and "no", 0) as false; here bool("false") made
    # every node run at every run. is_deterministic: "false" was the reverse: reused here.
    text = "type: pipeline\nsettings:\n  force_rerun: {v}\njobs:\n  a:\n    command: echo hi\n{det}"
    repo.write("pipeline.yml", text.format(v='"false"', det=""), dedent=False)
    for want in ("ran", "fresh"):
        r = repo.pipe("run", "--json", "-f", "pipeline.yml")
        assert r.code == 0 and r.json["steps"][0]["outcome"] == want, str(r)
    repo.write("pipeline.yml", text.format(v="no", det='    is_deterministic: "false"\n'), dedent=False)
    r = repo.pipe("status", "-f", "pipeline.yml")
    assert r.code == 0 and "always runs" in r.out, str(r)
    repo.write("pipeline.yml", text.format(v="maybe", det=""), dedent=False)
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 2 and "pipeline.yml:3:16: settings: force_rerun must be true or false, not 'maybe'" in r.err, str(
        r
    )


def test_the_export_is_refused_outside_the_pipelines_workspace(repo):
    # `pipe import azureml sub/pipeline.yml -o Pipefile` wrote a Pipefile whose paths are
    # sub/'s into the folder above: it read none of them ("step 'copy' reads 'src', which
    # does not exist", exit 2 at its first load).
    repo.write("sub/src/copy.py", _COPY)
    repo.write("sub/data/in.txt", "hello\n")
    repo.write("sub/pipeline.yml", _COPY_PIPELINE)
    r = repo.pipe("import", "azureml", "sub/pipeline.yml", "-o", "Pipefile")
    assert r.code == 2, str(r)
    assert "-o Pipefile: a Pipefile for this pipeline must be in its workspace, sub/" in r.err, r.err
    assert "hint: -o sub/Pipefile" in r.err and not (repo.root / "Pipefile").exists()
    r = repo.pipe("import", "azureml", "sub/pipeline.yml", "-o", "sub/Pipefile")
    assert r.code == 0, str(r)
    r = repo.pipe("run", "-f", "sub/Pipefile")
    assert r.code == 0 and repo.read("sub/.azureml-outputs/pipeline/copy/out/copy.txt") == "hello\n", str(r)


def test_a_misspelt_key_of_a_pipeline_input_is_warned_at_its_line(repo):
    # `defualt: 0.1` left the input with no value (its $[[ ]] dropped) without a word.
    repo.write(
        "pipeline.yml",
        "type: pipeline\ninputs:\n  lr: {type: number, defualt: 0.1}\njobs:\n  a:\n"
        "    command: echo $[[${{inputs.lr}}]]\n    inputs:\n      lr: ${{parent.inputs.lr}}\n",
        dedent=False,
    )
    r = repo.pipe("validate", "-f", "pipeline.yml")
    assert r.code == 0, str(r)
    assert "warning: pipeline.yml:3:31: pipeline input 'lr': unknown key 'defualt' is ignored" in r.err, r.err
    assert "hint: did you mean 'default'?" in r.err


def test_import_of_a_missing_file_says_what_to_give(repo):
    # (its hint said to check the -f argument, which pipe import azureml has not)
    r = repo.pipe("import", "azureml", "nope.yml", "-o", "Pipefile")
    assert r.code == 2 and "nope.yml: no such file" in r.err, str(r)
    assert "hint: give the path of the pipeline job's YAML" in r.err and "-f" not in r.err, r.err


def test_a_code_folders_link_to_a_file_outside_it_is_read_by_the_run(repo):
    # The working copy of code: kept a relative link as the link, which from the copy's place
    # pointed at nothing: the run failed (FileNotFoundError) on a file the folder had. Azure
    # uploads what the link points at; the step's key already held its content.
    repo.write("shared/data.txt", "v1\n")
    repo.write("src/run.py", "import sys\nopen(sys.argv[1] + '/o.txt', 'w').write(open('data.txt').read())\n")
    os.symlink("../shared/data.txt", repo.root / "src" / "data.txt")
    repo.write(
        "pipeline.yml",
        "type: pipeline\njobs:\n  a:\n    code: ./src\n    command: python run.py ${{outputs.o}}\n"
        "    outputs:\n      o: {type: uri_folder}\n",
        dedent=False,
    )
    r = repo.pipe("run", "-f", "pipeline.yml")
    assert r.code == 0 and repo.read(".azureml-outputs/pipeline/a/o/o.txt") == "v1\n", str(r)
    repo.write("shared/data.txt", "v2\n")  # (what the link points at changed: the node reruns)
    r = repo.pipe("run", "-f", "pipeline.yml")
    assert r.code == 0 and repo.read(".azureml-outputs/pipeline/a/o/o.txt") == "v2\n", str(r)
    assert os.path.islink(repo.root / "src" / "data.txt") and repo.read("shared/data.txt") == "v2\n"
