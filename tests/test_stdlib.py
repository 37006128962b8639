"""The std component library in the runner: `component: std/NAME@MAJOR` end to end through
`pipe run`, its code and version in the step key, its built-in environment, `pipe
components`, and the errors a Pipefile gets for a reference that does not resolve.

The components' own behaviour is tested by their authors; here `std/split_data@1` stands
for any of them (and a small component written into a copy of the library, where a test
needs one: PIPE_STDLIB_DIR points pipe at the copy).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "stdlib_components"

SPLIT = """\
    version: 1
    steps:
      split:
        component: std/split_data@1
        inputs: {data: iris.csv, fraction: 0.8, seed: 3}
        outputs: {train: build/train.parquet, test: build/test.parquet}
"""


def write_iris(repo) -> None:
    """The iris table as CSV, made by a small script with scikit-learn's copy (no download)."""
    repo.write(
        "make_iris.py",
        """\
        from sklearn.datasets import load_iris
        load_iris(as_frame=True).frame.to_csv("iris.csv", index=False)
        """,
    )
    import subprocess

    subprocess.run([sys.executable, "make_iris.py"], cwd=repo.root, check=True)


@pytest.fixture
def iris(repo):
    write_iris(repo)
    return repo


@pytest.fixture
def library(tmp_path) -> Path:
    """A copy of the library a test may change (named as the package, wherever it is)."""
    dst = tmp_path / "lib" / "stdlib_components"
    shutil.copytree(LIBRARY, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def test_split_data_runs_end_to_end_and_a_rerun_is_a_no_op(iris):
    import pandas as pd

    iris.pipefile(SPLIT)
    assert iris.outcomes() == {"split": "ran"}
    train = pd.read_parquet(iris.root / "build/train.parquet")
    test = pd.read_parquet(iris.root / "build/test.parquet")
    assert (len(train), len(test)) == (120, 30)
    assert iris.outcomes() == {"split": "fresh"}
    assert iris.states() == {"split": "fresh"}
    # The job says which release of the component ran (lineage shows it as the step's code).
    step = iris.pipe("jobs", "show", "1", "--json", check=True).json["steps"][0]
    code = step["inputs"]["code:std/split_data"]
    assert code["version"] == "1.0.0" and code["kind"] == "std" and len(code["digest"]) == 32
    assert "code: std/split_data" in iris.pipe("lineage", "build/train.parquet", check=True).out


def test_a_changed_script_reruns_and_an_unchanged_pinned_one_does_not(iris, library):
    env = {"PIPE_STDLIB_DIR": str(library)}
    iris.pipefile(SPLIT)
    assert iris.outcomes(env=env) == {"split": "ran"}
    assert iris.outcomes(env=env) == {"split": "fresh"}
    # The same library content elsewhere: the key holds content, not where it is installed.
    moved = library.parent.parent / "elsewhere" / "stdlib_components"
    shutil.copytree(library, moved, ignore=shutil.ignore_patterns("__pycache__"))
    assert iris.outcomes(env={"PIPE_STDLIB_DIR": str(moved)}) == {"split": "fresh"}
    # A new release of the script: the step reruns, and status says why.
    script = library / "split_data" / "__main__.py"
    script.write_text(script.read_text() + "\n# a new release\n")
    r = iris.pipe("status", env=env)
    assert "code 'std/split_data' changed" in r.out, str(r)
    assert iris.outcomes(env=env) == {"split": "ran"}
    # The shared code is part of every std step's key too.
    shared = library / "_lib" / "tables.py"
    shared.write_text(shared.read_text() + "\n# shared change\n")
    assert iris.outcomes(env=env) == {"split": "ran"}
    assert iris.outcomes(env=env) == {"split": "fresh"}


def test_the_library_copy_is_what_runs(iris, library):
    """PYTHONPATH points the step at the library pipe resolved, not at another installed copy."""
    script = library / "split_data" / "__main__.py"
    script.write_text("import sys\nprint('the copy ran')\nsys.exit(3)\n")
    iris.pipefile(SPLIT)
    r = iris.pipe("run", env={"PIPE_STDLIB_DIR": str(library)})
    assert r.code == 1, str(r)
    log = next((iris.root / ".pipe" / "jobs").glob("*/split.log")).read_text()
    assert "the copy ran" in log


def test_std_requirements_are_the_std_extra():
    from pipefile.envs.std import STD_REQUIREMENTS

    # (tomllib is 3.11+: the one line of the extra is read as the TOML list it is)
    line = next(x for x in (ROOT / "pyproject.toml").read_text().splitlines() if x.startswith("std = "))
    assert sorted(STD_REQUIREMENTS) == sorted(json.loads(line[len("std = ") :]))


def test_a_malformed_library_spec_is_a_bug_of_pipe_not_of_the_pipefile(iris, library):
    spec = library / "split_data" / "component.yaml"
    spec.write_text(spec.read_text().replace("version: 1.0.0", "version: one"))
    iris.pipefile(SPLIT)
    r = iris.pipe("validate", env={"PIPE_STDLIB_DIR": str(library)})
    assert r.code == 70, str(r)
    assert "component.yaml:3" in r.err and "MAJOR.MINOR.PATCH" in r.err, r.err
    assert "bug in pipe's std library" in r.err


def test_a_pipefile_without_std_components_never_scans_the_library(repo, tmp_path):
    """A library that would not parse is not even read when no step names a std component."""
    bad = tmp_path / "badlib" / "stdlib_components"
    (bad / "x").mkdir(parents=True)
    (bad / "x" / "component.yaml").write_text("name: [\n")
    repo.pipefile(
        """\
        version: 1
        steps:
          a:
            command: echo hi > ${{outputs.o}}
            outputs: {o: build/o.txt}
        """
    )
    env = {"PIPE_STDLIB_DIR": str(bad)}
    assert repo.outcomes(env=env) == {"a": "ran"}
    assert repo.outcomes(env=env) == {"a": "fresh"}


def test_component_metrics_are_recorded_with_the_job(repo):
    """`metrics: OUTPUT` in a component: every step that uses it records that file's numbers."""
    repo.pipefile(
        """\
        version: 1
        components:
          scorer:
            outputs: {scores: uri_file, other: uri_file}
            metrics: scores
            command: |
              echo '{"accuracy": 0.9}' > ${{outputs.scores}}
              echo x > ${{outputs.other}}
        steps:
          s:
            component: scorer
            outputs: {scores: build/scores.json, other: build/other.txt}
        """
    )
    repo.pipe("run", check=True)
    r = repo.pipe("metrics", "show", "--json", check=True)
    assert "accuracy" in r.out and "0.9" in r.out, r.out
    assert json.loads(r.out)


def test_pipe_envs_lists_std_and_says_it_is_this_interpreter(iris):
    iris.pipefile(SPLIT)
    r = iris.pipe("envs", "--json", check=True)
    (row,) = [e for e in r.json["environments"] if e["name"] == "std"]
    assert row["type"] == "std" and row["uses"] == "interpreter" and row["steps"] == ["split"]
    assert row["identity"].startswith("std:")
    text = iris.pipe("envs", check=True).out
    assert "std" in text and "the current interpreter" in text


def test_missing_requirements_choose_a_venv():
    from pipefile.envs.std import missing

    have = {"pandas": "2.2.3", "pyarrow": "14.0.1", "scikit-learn": "1.5.0", "matplotlib": "3.9.0"}
    assert missing(have) == []
    assert missing(dict(have, pandas="1.5.3")) == ["pandas>=2.0"]
    assert missing(dict(have, pyarrow=None)) == ["pyarrow>=14"]
    assert missing(dict(have, matplotlib="3.10.0rc1")) == []


def test_a_step_may_run_a_std_component_in_another_environment(iris):
    iris.pipefile(SPLIT.replace("      outputs:", "      environment: local\n        outputs:", 1))
    assert iris.outcomes() == {"split": "ran"}
    assert "std" not in [e["name"] for e in iris.pipe("envs", "--json", check=True).json["environments"]]


def test_components_list_shows_std_and_the_pipefiles_own(repo):
    repo.pipefile(
        """\
        version: 1
        components:
          mine:
            description: My own.
            inputs: {src: uri_file, n: {type: integer, default: 2}}
            outputs: {out: uri_folder}
            command: cp ${{inputs.src}} ${{outputs.out}}
        steps:
          a: {command: echo hi > out.txt, outputs: {o: out.txt}}
        """
    )
    r = repo.pipe("components", "list", "--json", check=True)
    found = {c["ref"]: c for c in r.json["components"]}
    split = found["std/split_data@1"]
    assert split["source"] == "std" and split["version"] == "1.0.0" and split["name"] == "split_data"
    assert [p["name"] for p in split["inputs"]] == ["data"]
    frac = next(p for p in split["params"] if p["name"] == "fraction")
    assert frac == dict(frac, type="number", default=0.7, required=False, optional=False)
    strat = next(p for p in split["params"] if p["name"] == "stratify_column")
    assert strat["optional"] is True and strat["default"] is None and strat["required"] is False
    mine = found["mine"]
    assert mine["source"] == "pipefile" and mine["version"] is None and mine["description"] == "My own."
    assert mine["outputs"] == [{"name": "out", "type": "uri_folder", "description": ""}]
    text = repo.pipe("components", "list", check=True).out
    assert "std/split_data@1" in text and "mine" in text and "fraction: number = 0.7" in text


def test_components_list_works_outside_a_workspace(tmp_path):
    from workspace_repo import Repo

    outside = Repo(tmp_path)
    r = outside.pipe("components", "list", "--json", check=True)
    assert {c["source"] for c in r.json["components"]} == {"std"}
    assert r.json["library"].endswith("stdlib_components")
    assert "std/split_data@1" in outside.pipe("components", "list", check=True).out


@pytest.mark.parametrize("name", ["split_data", "std/split_data", "std/split_data@1"])
def test_components_show_gives_an_example_step_that_validates(iris, name):
    r = iris.pipe("components", "show", name, "--json", check=True)
    assert r.json["ref"] == "std/split_data@1" and r.json["command"].startswith("python -m stdlib_components")
    example = r.json["example"]
    assert "component: std/split_data@1" in example
    iris.write("data/data", (iris.root / "iris.csv").read_text())
    iris.pipefile("version: 1\n" + example)
    v = iris.pipe("validate")
    assert v.code == 0, str(v) + example
    text = iris.pipe("components", "show", name, check=True).out
    assert "example step:" in text and "fraction" in text and "stratify_column" in text


def test_components_show_an_unknown_name_says_what_there_is(repo):
    r = repo.pipe("components", "show", "split_dta")
    assert r.code == 2 and "there is no component 'split_dta'" in r.err and "std/split_data" in r.err, str(r)
    r = repo.pipe("components", "show", "std/split_data@9")
    assert r.code == 2 and "no major version 9" in r.err and "@1" in r.err, str(r)


def test_a_pipefile_may_define_its_own_std_environment(iris):
    iris.pipefile(SPLIT + "    environments:\n      std: {type: local, env: {STD_MARK: mine}}\n")
    assert iris.outcomes() == {"split": "ran"}
    (row,) = iris.pipe("envs", "--json", check=True).json["environments"]
    assert row["name"] == "std" and row["type"] == "local" and "uses" not in row


def test_a_new_major_moves_std_name_alone_and_not_a_step_pinned_to_at_1(iris, library):
    """`@1` pins the interface: a release that adds `std/split_data@2` leaves a pinned step
    fresh, while `std/split_data` (the newest major) moves to @2 and reruns."""
    steps = SPLIT + SPLIT.split("steps:\n", 1)[1].replace("split:", "newest:").replace(
        "std/split_data@1", "std/split_data"
    ).replace("build/", "build/newest/")
    iris.pipefile(steps)
    assert iris.outcomes(env={"PIPE_STDLIB_DIR": str(library)}) == {"split": "ran", "newest": "ran"}
    v2 = library / "split_data_v2"
    v2.mkdir()
    spec = (library / "split_data" / "component.yaml").read_text()
    (v2 / "component.yaml").write_text(spec.replace("version: 1.0.0", "version: 2.0.0"))
    r = iris.pipe("status", env={"PIPE_STDLIB_DIR": str(library)})
    assert "code 'std/split_data' changed: 1.0.0" in r.out and "-> 2.0.0" in r.out, str(r)
    assert iris.outcomes(env={"PIPE_STDLIB_DIR": str(library)}) == {"split": "fresh", "newest": "ran"}
