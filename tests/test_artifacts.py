"""Versioned artifacts through the real CLI: `name:` on outputs and assets, `pipe artifacts`
(list, show, get), `pipe asset add`, and `${{artifacts.NAME[:V]}}` input bindings."""

from __future__ import annotations

import os
import stat

import pytest
from workspace_repo import Repo

TRAIN = """
version: 1
name: demo
params:
  lr: 0.1
assets:
  raw: {path: data/raw.txt, name: raw}
steps:
  train:
    command: mkdir -p ${{outputs.model}} && cat ${{inputs.data}} > ${{outputs.model}}/w && echo ${{params.lr}} >> ${{outputs.model}}/w
    inputs: {data: "${{assets.raw}}"}
    outputs: {model: {path: build/model, name: model}}
"""


@pytest.fixture
def trained(repo: Repo) -> Repo:
    repo.write("data/raw.txt", "a\n")
    repo.pipefile(TRAIN)
    repo.outcomes()
    return repo


def listing(repo: Repo) -> dict:
    r = repo.pipe("artifacts", "--json")
    assert r.code == 0, str(r)
    return {a["name"]: a for a in r.json["artifacts"]}


def versions(repo: Repo, name: str) -> list:
    r = repo.pipe("artifacts", "show", name, "--json")
    assert r.code == 0, str(r)
    return r.json["versions"]


def test_a_named_output_gets_a_new_version_only_for_new_content(trained):
    arts = listing(trained)
    assert set(arts) == {"model", "raw"}
    assert (arts["model"]["versions"], arts["model"]["latest"], arts["model"]["kind"]) == (1, 1, "tree")
    assert arts["model"]["size"] == len("a\n0.1\n")
    assert arts["raw"]["kind"] == "file" and arts["raw"]["step"] is None

    trained.outcomes()  # unchanged: same content, same version
    assert listing(trained)["model"]["versions"] == 1

    trained.outcomes("-p", "lr=0.2")
    assert listing(trained)["model"]["latest"] == 2
    trained.outcomes()  # back to lr=0.1: content of version 1 again, no version 3
    assert listing(trained)["model"]["versions"] == 2

    vs = versions(trained, "model")
    assert [v["version"] for v in vs] == [1, 2]
    assert all(v["step"] == "train" and v["path"] == "build/model" and v["job"] for v in vs)
    assert vs[0]["digest"] != vs[1]["digest"]


def test_show_one_version_and_the_plain_listing(trained):
    r = trained.pipe("artifacts", "show", "model:1", "--json")
    assert r.code == 0, str(r)
    v = r.json
    assert (v["name"], v["version"], v["step"], v["path"]) == ("model", 1, "train", "build/model")
    assert len(v["digest"]) == 32 and v["size"] > 0 and v["created"] > 0 and v["job"] == 1

    text = trained.pipe("artifacts", "show", "model:1", check=True).out
    for word in ("model:1", v["digest"], "train", "build/model", "created"):
        assert word in text
    table = trained.pipe("artifacts", check=True).out
    assert "model" in table and "raw" in table and "versions" in table and "latest" in table
    assert trained.pipe("artifacts", "show", "model:latest", "--json", check=True).json["version"] == 1


def test_get_writes_any_version_without_running_anything(trained):
    trained.outcomes("-p", "lr=0.2")
    jobs_before = len(trained.pipe("jobs", "--json", check=True).json["jobs"])
    r = trained.pipe("artifacts", "get", "model:1", "-o", "old-model")
    assert r.code == 0, str(r)
    assert trained.read("old-model/w") == "a\n0.1\n"
    assert trained.read("build/model/w") == "a\n0.2\n"  # the workspace is untouched
    trained.pipe("artifacts", "get", "model", "-o", "sub/dir/latest", check=True)
    assert trained.read("sub/dir/latest/w") == "a\n0.2\n"
    trained.pipe("artifacts", "get", "raw:1", "-o", "raw-copy.txt", check=True)
    assert trained.read("raw-copy.txt") == "a\n"
    # The copy is the user's: writable.
    assert os.stat(trained.root / "old-model" / "w").st_mode & stat.S_IWUSR
    assert len(trained.pipe("jobs", "--json", check=True).json["jobs"]) == jobs_before


def test_get_refuses_to_overwrite_an_existing_path(trained):
    trained.write("taken/keep.txt", "mine\n")
    trained.write("taken.txt", "mine\n")
    for dest in ("taken", "taken.txt"):
        r = trained.pipe("artifacts", "get", "model:1", "-o", dest)
        assert r.code == 2, str(r)
        assert f"'{dest}' already exists" in r.err and "hint:" in r.err and "Traceback" not in r.err
    assert trained.read("taken/keep.txt") == "mine\n" and trained.read("taken.txt") == "mine\n"
    assert not trained.exists("taken/w")


def test_unknown_artifact_and_missing_version_are_clear_errors(trained):
    r = trained.pipe("artifacts", "show", "modle")
    assert r.code == 2 and "no artifact 'modle'" in r.err and "did you mean 'model'" in r.err, str(r)
    r = trained.pipe("artifacts", "get", "model:7", "-o", "x")
    assert r.code == 2 and "artifact 'model' has no version 7" in r.err and "1 to 1" in r.err, str(r)
    assert not trained.exists("x")
    r = trained.pipe("artifacts", "show", "model:abc")
    assert r.code == 2 and "version must be a number" in r.err, str(r)
    r = trained.pipe("artifacts", "get", "model")  # -o is required
    assert r.code == 2, str(r)


def test_listing_an_empty_workspace_creates_nothing(repo):
    repo.pipefile("version: 1\nsteps:\n  a: {command: 'true'}\n")
    r = repo.pipe("artifacts")
    assert r.code == 0 and "no artifacts yet" in r.out, str(r)
    assert repo.pipe("artifacts", "--json", check=True).json == {"artifacts": []}
    assert not repo.exists(".pipe")


def test_asset_add_versions_external_data_by_content(repo, tmp_path):
    repo.pipefile("version: 1\nsteps:\n  a: {command: 'true'}\n")
    ext = tmp_path / "external"
    ext.mkdir()
    (ext / "labels.csv").write_text("x,y\n")
    r = repo.pipe("asset", "add", str(ext / "labels.csv"), "--name", "labels", "--json")
    assert r.code == 0, str(r)
    assert (r.json["version"], r.json["kind"], r.json["new"], r.json["step"]) == (1, "file", True, None)
    r = repo.pipe("asset", "add", str(ext / "labels.csv"), "--name", "labels")
    assert r.code == 0 and "labels:1 already holds this content" in r.out, str(r)
    (ext / "labels.csv").write_text("x,y\n1,2\n")
    assert (
        repo.pipe("asset", "add", str(ext / "labels.csv"), "--name", "labels", "--json", check=True).json["version"]
        == 2
    )
    # A folder, too; and the store keeps it after the original is gone.
    (ext / "sub").mkdir()
    (ext / "sub" / "f.bin").write_bytes(b"\0\1\2")
    d = repo.pipe("asset", "add", str(ext), "--name", "ext-dir", "--json", check=True).json
    assert d["kind"] == "tree" and d["new"]
    (ext / "sub" / "f.bin").unlink()
    (ext / "labels.csv").unlink()
    repo.pipe("artifacts", "get", "ext-dir:1", "-o", "restored", check=True)
    assert (repo.root / "restored" / "sub" / "f.bin").read_bytes() == b"\0\1\2"
    repo.pipe("artifacts", "get", "labels:1", "-o", "l1.csv", check=True)
    assert repo.read("l1.csv") == "x,y\n"
    assert {a["name"]: a["versions"] for a in listing(repo).values()} == {"labels": 2, "ext-dir": 1}


def test_asset_add_bad_input(trained):
    r = trained.pipe("asset", "add", "nowhere.csv", "--name", "x")
    assert r.code == 2 and "no file or folder at 'nowhere.csv'" in r.err, str(r)
    r = trained.pipe("asset", "add", "data/raw.txt", "--name", "model")
    assert r.code == 2 and "output of step 'train'" in r.err and "--name" in r.err, str(r)
    r = trained.pipe("asset", "add", "data/raw.txt", "--name", "9bad name")
    assert r.code == 2 and "not a valid artifact name" in r.err, str(r)
    r = trained.pipe("asset", "add", ".pipe/jobs.db", "--name", "db")
    assert r.code == 2 and ".pipe/" in r.err, str(r)
    r = trained.pipe("asset", "add", "data/raw.txt")
    assert r.code == 2 and "--name" in r.err, str(r)


CONSUMER = """
version: 1
steps:
  evaluate:
    command: cat ${{inputs.model}}/w ${{inputs.labels}} > ${{outputs.report}}
    inputs:
      model: "${{artifacts.model:1}}"
      labels: "${{artifacts.labels}}"
    outputs: {report: build/report.txt}
"""


def test_an_input_binds_a_pinned_version_or_the_latest(trained, tmp_path):
    trained.outcomes("-p", "lr=0.2")  # model:2 is the latest now; the consumer pins model:1
    labels = tmp_path / "labels.csv"
    labels.write_text("L1\n")
    trained.pipe("asset", "add", str(labels), "--name", "labels", check=True)
    trained.write("consumer/Pipefile", CONSUMER)
    consumer = Repo(trained.root / "consumer")
    # The consumer is a workspace of its own: the artifacts live in the other one.
    r = consumer.pipe("run")
    assert r.code == 2 and "no artifact 'model'" in r.err, str(r)

    trained.pipefile(TRAIN + CONSUMER.split("steps:\n", 1)[1])
    assert trained.outcomes() == {"train": "restored", "evaluate": "ran"}  # lr back to 0.1: model:1
    assert trained.read("build/report.txt") == "a\n0.1\nL1\n"
    # Materialised read-only inside .pipe/, by version.
    w = trained.root / ".pipe/artifacts/model/1/w"
    assert w.read_text() == "a\n0.1\n"
    assert not w.stat().st_mode & 0o222
    assert not (trained.root / ".pipe/artifacts/labels/1").stat().st_mode & 0o222
    # The job records the version's content digest as the input.
    job = trained.pipe("jobs", "show", "last", "--json", check=True).json
    ev = next(s for s in job["steps"] if s["step"] == "evaluate")
    model1 = trained.pipe("artifacts", "show", "model:1", "--json", check=True).json
    assert ev["inputs"]["model"]["digest"] == model1["digest"]
    assert trained.outcomes() == {"train": "fresh", "evaluate": "fresh"}

    # A new labels version: `latest` moves at plan time, the pinned model:1 does not.
    labels.write_text("L2\n")
    trained.pipe("asset", "add", str(labels), "--name", "labels", check=True)
    assert trained.states() == {"train": "fresh", "evaluate": "run"}
    assert trained.outcomes() == {"train": "fresh", "evaluate": "ran"}
    assert trained.read("build/report.txt") == "a\n0.1\nL2\n"
    # A new model version leaves the pinned binding alone.
    trained.outcomes("-p", "lr=0.3", "train")
    assert listing(trained)["model"]["latest"] == 3
    assert trained.states("-p", "lr=0.3") == {"train": "fresh", "evaluate": "fresh"}


def test_a_changed_materialised_version_is_put_back(trained, tmp_path):
    trained.pipefile(
        TRAIN
        + """\
  use:
    command: cat ${{inputs.m}}/w > ${{outputs.o}}
    inputs: {m: "${{artifacts.model:1}}"}
    outputs: {o: build/o.txt}
"""
    )
    r = trained.pipe("run")
    assert r.code == 0, str(r)
    w = trained.root / ".pipe/artifacts/model/1/w"
    os.chmod(w.parent, 0o755)
    os.chmod(w, 0o644)
    w.write_text("tampered\n")
    # Status decides on the version's recorded content and writes nothing; a run puts it back.
    assert trained.states() == {"train": "fresh", "use": "fresh"}
    assert w.read_text() == "tampered\n"
    assert trained.outcomes() == {"train": "fresh", "use": "fresh"}
    assert w.read_text() == "a\n0.1\n"


def test_artifact_binding_bad_input(trained):
    base = (
        TRAIN
        + """\
  use:
    command: cat ${{inputs.m}}/w > ${{outputs.o}}
    inputs: {m: "%s"}
    outputs: {o: build/o.txt}
"""
    )
    trained.pipefile(base % "${{artifacts.modle}}")
    r = trained.pipe("run")
    assert r.code == 2, str(r)
    assert "Pipefile:15:17:" in r.err and "artifact 'modle:latest'" in r.err and "did you mean 'model'" in r.err
    trained.pipefile(base % "${{artifacts.model:9}}")
    r = trained.pipe("status")
    assert r.code == 2 and "artifact 'model' has no version 9" in r.err and "versions are 1 to 1" in r.err, str(r)
    r = trained.pipe("validate")
    assert r.code == 2 and "no version 9" in r.err, str(r)
    trained.pipefile(base % "${{artifacts.model:x}}")
    r = trained.pipe("validate")
    assert r.code == 2 and "malformed expression" in r.err, str(r)
    # A value-typed component input cannot take an artifact.
    trained.pipefile(
        TRAIN
        + """\
  use: {component: c, inputs: {n: "${{artifacts.model}}"}, outputs: {o: build/o}}
components:
  c:
    command: echo ${{inputs.n}} > ${{outputs.o}}
    inputs: {n: number}
    outputs: {o: uri_file}
"""
    )
    r = trained.pipe("validate")
    assert r.code == 2 and "expects a number" in r.err, str(r)
    # Used directly in a command: rejected, with the fix.
    trained.pipefile(
        TRAIN
        + """\
  use:
    command: cat ${{artifacts.model}}/w > ${{outputs.o}}
    outputs: {o: build/o.txt}
"""
    )
    r = trained.pipe("validate")
    assert r.code == 2 and "${{inputs.NAME}}" in r.err, str(r)


def test_artifact_binding_in_a_fresh_workspace_creates_no_state(repo):
    repo.pipefile("""
        version: 1
        steps:
          use:
            command: cat ${{inputs.m}} > ${{outputs.o}}
            inputs: {m: "${{artifacts.model}}"}
            outputs: {o: build/o.txt}
        """)
    r = repo.pipe("status")
    assert r.code == 2 and "no artifact 'model'" in r.err and "pipe asset add" in r.err, str(r)
    assert not repo.exists(".pipe")


def test_an_artifact_name_has_one_producer(repo):
    repo.pipefile("""
        version: 1
        steps:
          s: {command: "echo s > ${{outputs.o}}", outputs: {o: {path: build/s.txt, name: dup}}}
          t: {command: "echo t > ${{outputs.o}}", outputs: {o: {path: build/t.txt, name: dup}}}
    """)
    r = repo.pipe("validate")
    assert r.code == 2 and "artifact name 'dup' is given twice" in r.err


def test_reading_the_latest_version_of_what_this_pipefile_makes_says_what_to_bind(repo):
    repo.pipefile("""
        version: 1
        steps:
          make: {command: "echo m > ${{outputs.m}}", outputs: {m: {path: build/m.txt, name: model}}}
          use:
            command: cat ${{inputs.m}} > ${{outputs.r}}
            inputs: {m: "${{artifacts.model}}"}
            outputs: {r: build/r.txt}
    """)
    r = repo.pipe("run", "make")
    assert r.code == 2 and "which step 'make' of this Pipefile makes" in r.err
    assert "${{steps.make.outputs.m}}" in r.err and "${{artifacts.model:N}}" in r.err


def test_asset_add_waits_for_a_run_or_gc_holding_the_workspace(repo, tmp_path):
    import subprocess
    import threading

    from workspace_repo import PIPE

    from pipefile.workspace import WorkspaceLock

    repo.pipefile("version: 1\nsteps: {}\n")
    (tmp_path / "raw.csv").write_text("a,b\n1,2\n")
    (repo.root / ".pipe").mkdir()
    held = WorkspaceLock(str(repo.root / ".pipe" / "lock"))
    held.acquire(wait=False)
    # Released once it says it waits (a timer released it before a slow start asked).
    p = subprocess.Popen(
        PIPE + ["asset", "add", str(tmp_path / "raw.csv"), "--name", "raw"],
        cwd=repo.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    guard = threading.Timer(90, p.kill)  # (a pipe that never says it waits: readline returns)
    guard.start()
    try:
        assert p.stderr is not None
        first = p.stderr.readline()
        assert "waiting for another pipe process" in first, first
        held.release()
        out, err = p.communicate(timeout=60)
    finally:
        guard.cancel()
        if p.poll() is None:
            p.kill()
        held.release()
    assert p.returncode == 0, first + err
    assert "added raw:1" in out


def test_binding_an_artifact_this_pipefile_names_before_its_first_version_says_how(repo: Repo):
    # Was: "no artifact has been stored in this workspace yet: name an output (name: ...) and run
    # it": advice that cannot work, as the binding stops every run (no version is ever made).
    repo.write("data/raw.txt", "a\n")
    repo.pipefile("""
        version: 1
        assets:
          raw: {path: data/raw.txt, name: rawdata}
        steps:
          a:
            command: cat ${{inputs.r}} > ${{outputs.o}}
            inputs: {r: "${{artifacts.rawdata}}"}
            outputs: {o: out.txt}
          b:
            command: echo x > ${{outputs.o}}
            outputs: {o: {path: m.txt, name: m}}
          c:
            command: cat ${{inputs.m}} > ${{outputs.o}}
            inputs: {m: "${{artifacts.m:1}}"}
            outputs: {o: c.txt}
    """)
    r = repo.pipe("run")
    assert r.code == 2, str(r)
    assert "bind ${{assets.raw}}" in r.err and "pipe asset add data/raw.txt --name rawdata" in r.err, str(r)
    assert "'m' is output 'o' of step 'b' here" in r.err and "bind ${{steps.b.outputs.o}}" in r.err, str(r)
    assert "name an output (name: ...) and run it" not in r.err, str(r)
    # The way out the hint gives works: a first version added, the asset's binding resolves.
    assert repo.pipe("asset", "add", "data/raw.txt", "--name", "rawdata").code == 0
    assert "rawdata" not in repo.pipe("run").err


def test_an_artifact_name_too_long_for_a_file_name_is_refused_where_it_is_given(repo):
    # A name of 300 characters was accepted (`pipe asset add --name`, an output's `name:`), and
    # every run that then bound it failed at .pipe/artifacts/NAME (a file name past 255 bytes):
    # "internal error: OSError(36, 'File name too long')", exit 70. Names are at most 255 long:
    # every name up to that worked, and a history may hold one (a cap of 200 refused them).
    repo.write("f.txt", "hi\n")
    repo.pipefile("version: 1\nsteps: {}\n")
    long, ok = "a" * 256, "b" * 255
    assert repo.pipe("asset", "add", "f.txt", "--name", ok).code == 0
    r = repo.pipe("asset", "add", "f.txt", "--name", long)
    assert r.code == 2 and "at most 255 characters" in r.err, str(r)
    repo.pipefile(
        f"""\
        version: 1
        steps:
          s:
            command: cat f.txt > ${{{{outputs.o}}}}
            outputs:
              o: {{path: o.txt, name: {long}}}
        """
    )
    r = repo.pipe("run")
    assert r.code == 2 and "Pipefile:6:" in r.err and "at most 255 characters" in r.err, str(r)
    repo.pipefile(
        f"""\
        version: 1
        steps:
          s:
            command: cat ${{{{inputs.x}}}} > ${{{{outputs.o}}}}
            inputs: {{x: "${{{{artifacts.{ok}:1}}}}"}}
            outputs: {{o: o.txt}}
        """
    )
    r = repo.pipe("run")
    assert r.code == 0 and repo.read("o.txt") == "hi\n", str(r)
