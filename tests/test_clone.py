"""`pipe clone JOB`: the job's Pipefile, params, code and data come back out as a new
workspace that restores everything from the original's store, and records where it
came from; bad input is refused with a hint."""

from __future__ import annotations

import os
import sqlite3

from workspace_repo import Repo

PIPEFILE = """
version: 1
name: demo
params:
  scale: 2        # how much to repeat
  tag: {type: string, description: a label}
  lr:
    type: number
    description: the rate
assets:
  raw: data/raw.csv
steps:
  prep:
    command: python src/prep.py ${{inputs.d}} ${{params.scale}} ${{outputs.o}}
    code: [src/prep.py]
    inputs:
      d: ${{assets.raw}}
    outputs:
      o: build/prep.csv
  train:
    command: sh tools/train.sh ${{inputs.p}} ${{params.tag}} ${{params.lr}} > ${{outputs.m}}
    code: [tools]
    inputs:
      p: ${{steps.prep.outputs.o}}
      extra: data/extra
    outputs:
      m: {path: build/model.txt, name: model}
"""

PREP = "import sys\nopen(sys.argv[3], 'w').write(open(sys.argv[1]).read() * int(sys.argv[2]))\n"
TRAIN = 'cat "$1"; echo "tag=$2 lr=$3"\n'


def _setup(repo: Repo) -> None:
    repo.pipefile(PIPEFILE)
    repo.write("src/prep.py", PREP)
    repo.write("tools/train.sh", TRAIN)
    os.chmod(repo.root / "tools/train.sh", 0o755)
    repo.write("data/raw.csv", "1,2\n")
    repo.write("data/extra/notes.txt", "n\n")


def test_clone_round_trip_restores_everything_and_records_cloned_from(repo):
    _setup(repo)
    assert repo.outcomes("-p", "tag=a", "-p", "lr=0.1") == {"prep": "ran", "train": "ran"}
    first_model = repo.read("build/model.txt")
    repo.write("src/prep.py", PREP + "# edited\n")
    repo.write("tools/train.sh", TRAIN + "echo v2\n")
    assert repo.outcomes("-p", "tag=b", "-p", "lr=0.5", "-p", "scale=3") == {"prep": "ran", "train": "ran"}

    dest = repo.root.parent / "clone1"
    r = repo.pipe("clone", "1", "-o", str(dest))
    assert r.code == 0, r
    assert "cloned job 1" in r.out, r
    clone = Repo(dest)
    # Job 1's code and Pipefile, not today's.
    assert clone.read("src/prep.py") == PREP
    assert clone.read("tools/train.sh") == TRAIN
    assert os.access(dest / "tools/train.sh", os.X_OK)
    assert clone.read("data/raw.csv") == "1,2\n" and clone.read("data/extra/notes.txt") == "n\n"
    text = clone.read("Pipefile")
    assert text.startswith("# Cloned by `pipe clone` from job 1")
    assert "# how much to repeat" in text  # comments and layout survive
    assert "default: a" in text and "default: 0.1" in text
    assert not (dest / "build").exists()
    # Unchanged, it restores every step from the original's store.
    assert clone.outcomes() == {"prep": "restored", "train": "restored"}
    assert clone.read("build/model.txt") == first_model
    show = clone.pipe("jobs", "show", "last", "--json").json
    assert show["cloned_from"] == 1
    assert show["params"] == {"scale": 2, "tag": "a", "lr": 0.1}
    assert "cloned from job 1" in clone.pipe("jobs", "show", "last").out
    # It is the user's to edit: a changed param runs what it touches, nothing in the original moves.
    assert clone.outcomes("-p", "tag=c") == {"prep": "fresh", "train": "ran"}
    assert clone.pipe("jobs", "show", "last", "--json").json["cloned_from"] == 1
    assert repo.read("tools/train.sh") == TRAIN + "echo v2\n"


def test_clone_of_the_last_job_into_the_default_folder(repo):
    _setup(repo)
    repo.outcomes("-p", "tag=a", "-p", "lr=1")
    r = repo.pipe("clone", "last")
    assert r.code == 0, r
    dest = repo.root.parent / f"{repo.root.name}-job1"
    assert (dest / "Pipefile").is_file()
    assert Repo(dest).outcomes() == {"prep": "restored", "train": "restored"}
    # A second clone of the same job never writes over the first.
    r = repo.pipe("clone", "last")
    assert r.code == 2, r
    assert "already exists and is not empty" in r.err and "-o DIR" in r.err


def test_gc_in_the_original_keeps_what_the_clone_needs(repo):
    _setup(repo)
    repo.outcomes("-p", "tag=a", "-p", "lr=1")
    dest = repo.root.parent / "c"
    assert repo.pipe("clone", "1", "-o", str(dest)).code == 0
    clone = Repo(dest)
    assert clone.outcomes("-p", "tag=z") == {"prep": "restored", "train": "ran"}
    r = repo.pipe("gc", "--keep-last", "0")
    assert r.code == 0, r
    os.remove(dest / "build/model.txt")
    assert clone.outcomes("-p", "tag=z") == {"prep": "fresh", "train": "restored"}


def test_clone_copies_current_data_and_warns_when_it_changed(repo):
    _setup(repo)
    repo.outcomes("-p", "tag=a", "-p", "lr=1")
    repo.write("data/raw.csv", "9,9\n")
    dest = repo.root.parent / "c"
    r = repo.pipe("clone", "1", "-o", str(dest))
    assert r.code == 0, r
    assert "'data/raw.csv' changed since job 1 read it" in r.err, r
    assert Repo(dest).outcomes() == {"prep": "ran", "train": "ran"}


def test_clone_into_an_existing_empty_folder(repo):
    _setup(repo)
    repo.outcomes("-p", "tag=a", "-p", "lr=1")
    dest = repo.root.parent / "empty"
    dest.mkdir()
    r = repo.pipe("clone", "1", "-o", str(dest))
    assert r.code == 0, r
    assert Repo(dest).outcomes() == {"prep": "restored", "train": "restored"}


def test_clone_refuses_a_non_empty_folder_and_leaves_it_alone(repo):
    _setup(repo)
    repo.outcomes("-p", "tag=a", "-p", "lr=1")
    dest = repo.root.parent / "mine"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    r = repo.pipe("clone", "1", "-o", str(dest))
    assert r.code == 2, r
    assert f"'{dest}' already exists and is not empty" in r.err
    assert "hint:" in r.err
    assert os.listdir(dest) == ["notes.txt"] and (dest / "notes.txt").read_text() == "mine"
    assert not [n for n in os.listdir(repo.root.parent) if n.startswith(".pipe-clone-")]
    f = repo.root.parent / "afile"
    f.write_text("x")
    r = repo.pipe("clone", "1", "-o", str(f))
    assert r.code == 2, r
    # Where no folder can be made: a file on the way, /proc (was exit 70, from makedirs)
    for where in (str(f / "sub"), "/proc/pipe-clone-here"):
        r = repo.pipe("clone", "1", "-o", where)
        assert r.code == 2 and "internal error" not in r.err and "cannot write the clone" in r.err, r


def test_clone_of_an_unknown_job_suggests_one(repo):
    _setup(repo)
    repo.outcomes("-p", "tag=a", "-p", "lr=1")
    repo.outcomes("-p", "tag=b", "-p", "lr=1")
    r = repo.pipe("clone", "12")
    assert r.code == 2, r
    assert "no job '12'" in r.err
    assert "did you mean" in r.err or "known job names" in r.err
    assert not [n for n in os.listdir(repo.root.parent) if n != repo.root.name]


def test_clone_with_an_ambiguous_prefix(repo):
    _setup(repo)
    repo.outcomes("-p", "tag=a", "-p", "lr=1")
    repo.outcomes("-p", "tag=b", "-p", "lr=1")
    db = sqlite3.connect(repo.root / ".pipe/jobs.db")
    db.execute("UPDATE jobs SET uid='abc' || id || 'ffff'")
    db.commit()
    db.close()
    r = repo.pipe("clone", "abc")
    assert r.code == 2, r
    assert "'abc' matches several jobs (2, 1)" in r.err or "'abc' matches several jobs (1, 2)" in r.err
    assert "hint:" in r.err
    r = repo.pipe("clone", "abc2", "-o", str(repo.root.parent / "c"))
    assert r.code == 0, r
    assert "cloned job 2" in r.out


def test_clone_before_any_run(repo):
    _setup(repo)
    r = repo.pipe("clone", "last")
    assert r.code == 2, r
    assert "no job has run" in r.err


PRODUCER = """
version: 1
name: prod
params:
  v: 1
steps:
  make:
    command: echo model ${{params.v}} > ${{outputs.m}}
    outputs:
      m: {path: build/model.txt, name: model}
"""

CONSUMER = """
version: 1
name: cons
steps:
  use:
    command: cat ${{inputs.m}} > ${{outputs.r}}
    inputs:
      m: "${{artifacts.model}}"   # the latest
    outputs:
      r: out/result.txt
"""


def _producer_and_consumer(repo: Repo) -> None:
    repo.write("Producer.yaml", PRODUCER)
    repo.pipefile(CONSUMER)
    assert repo.outcomes("-f", "Producer.yaml") == {"make": "ran"}  # job 1: model:1
    assert repo.outcomes() == {"use": "ran"}  # job 2 reads model:1
    assert repo.outcomes("-f", "Producer.yaml", "-p", "v=2") == {"make": "ran"}  # job 3: model:2


def test_clone_pins_latest_artifact_bindings_to_the_version_the_job_read(repo):
    _producer_and_consumer(repo)
    dest = repo.root.parent / "c"
    r = repo.pipe("clone", "2", "-o", str(dest))
    assert r.code == 0, r
    assert "use.m=model:1" in r.err, r
    assert r.err.count("pipe run") == 1 and "pipe run -f" not in r.err, r
    clone = Repo(dest)
    text = clone.read("Pipefile")
    assert "${{artifacts.model:1}}" in text and "${{artifacts.model}}" not in text
    assert "# the latest" in text  # the rest stays as written
    assert "artifacts pinned" in text.splitlines()[0]
    # Exactly job 2: model:1, from the cache, although model:2 is now the latest.
    assert clone.outcomes() == {"use": "restored"}
    assert clone.read("out/result.txt") == "model 1\n"
    j = repo.pipe("clone", "2", "-o", str(repo.root.parent / "c2"), "--json", check=True).json
    assert j["artifacts_pinned"] == ["use.m=model:1"] and j["run"] == "pipe run"


def test_clone_of_a_job_run_with_another_file_says_how_to_run_it(repo):
    _producer_and_consumer(repo)
    dest = repo.root.parent / "p"
    r = repo.pipe("clone", "3", "-o", str(dest))
    assert r.code == 0, r
    assert "pipe run -f Producer.yaml" in r.err, r
    assert (dest / "Producer.yaml").is_file() and not (dest / "Pipefile").exists()
    clone = Repo(dest)
    assert clone.outcomes("-f", "Producer.yaml") == {"make": "restored"}
    assert clone.read("build/model.txt") == "model 2\n"


def test_artifacts_copied_into_a_clone_lead_back_to_the_original(repo):
    _producer_and_consumer(repo)
    dest = repo.root.parent / "c"
    repo.pipe("clone", "2", "-o", str(dest), check=True)
    clone = Repo(dest)
    clone.outcomes()
    show = clone.pipe("artifacts", "show", "model:1", check=True).out
    assert "None" not in show and "pipe clone" in show, show
    t = clone.pipe("lineage", "out/result.txt", "--json", check=True).json
    m = t["produced_by"]["inputs"]["m"]
    assert m["artifacts"] == ["model:1"]
    made = m["produced_by"]
    assert made["step"] == "make" and made["job"] == 1 and made["params"] == {"v": 1}
    assert made["workspace"] == str(repo.root)
    text = clone.pipe("lineage", "model:2", check=True).out
    assert f"made by step 'make' in job 3 of {repo.root}" in text and "None" not in text, text
    # With the original gone, it still says where it came from, without "None".
    import shutil

    shutil.rmtree(repo.root / ".pipe" / "jobs")
    (repo.root / ".pipe" / "jobs.db").unlink()
    text = clone.pipe("lineage", "model:2", check=True).out
    assert f"job 3 of {repo.root}" in text and "None" not in text, text


def test_clone_defaults_to_a_folder_outside_the_git_repository(repo):
    """The workspace is a folder of a git repository: its default clone goes beside the
    repository, not beside the workspace (which would be inside the repository)."""
    import subprocess

    subprocess.run(["git", "init", "-q", str(repo.root)], check=True)
    ml = Repo(repo.root / "ml")
    ml.root.mkdir()
    _setup(ml)
    assert ml.outcomes("-p", "tag=a", "-p", "lr=0.1") == {"prep": "ran", "train": "ran"}
    r = ml.pipe("clone", "1", "--json")
    assert r.code == 0, str(r)
    dest = repo.root.parent / f"{repo.root.name}-ml-job1"
    assert r.json["dest"] == str(dest) and (dest / "Pipefile").is_file() and r.json["warnings"] == []
    assert not (repo.root / "ml-job1").exists()
    # Asked for inside the repository: made, with a warning.
    r = ml.pipe("clone", "1", "-o", "inside")
    assert r.code == 0 and (ml.root / "inside" / "Pipefile").is_file(), str(r)
    assert f"warning: the clone is inside the git repository {repo.root}" in r.err, str(r)


def test_clone_of_a_python_pipeline_brings_the_modules_it_imports(repo, tmp_path):
    # Was: the clone held build.py alone, so loading it failed at `from steps import copy`
    # (ModuleNotFoundError) and nothing was cloned.
    repo.write(
        "steps.py",
        """
from pipefile import dsl


@dsl.command_component
def copy(data: dsl.Input(type="uri_file"), out: dsl.Output(type="uri_file")):
    import shutil

    shutil.copy(data, out)
""",
    )
    repo.write(
        "build.py",
        """
from steps import copy

from pipefile import dsl


@dsl.pipeline(name="py")
def py():
    copy(data=dsl.Input(type="uri_file", path="data/in.txt"))


pipeline = py
""",
    )
    repo.write("data/in.txt", "hello\\n")
    r = repo.pipe("run", "-f", "build.py")
    assert r.code == 0, str(r)
    dest = tmp_path / "the-clone"
    r = repo.pipe("clone", "-f", "build.py", "last", "-o", str(dest))
    assert r.code == 0, str(r)
    assert (dest / "steps.py").read_text() == repo.read("steps.py")
    clone = Repo(dest)
    r = clone.pipe("run", "-f", "build.py")
    assert r.code == 0 and "restored" in r.err and " ran" not in r.err, str(r)


def test_clone_of_a_python_pipeline_run_with_params_or_another_object(repo, tmp_path):
    # A Python pipeline run with -p (or with a default other than the one in the file) was
    # cloned by writing its params into the module's text read as YAML: a ScannerError, exit
    # 70, and no clone. A job of `-f build.py:small` was cloned as build.py's `pipeline`. The
    # params now go to the run command (-p), and the object the job ran is the one named.
    repo.write(
        "build.py",
        """
from pipefile import dsl


@dsl.command_component
def make(n: int, tag: str, out: dsl.Output(type="uri_file")):
    open(out, "w").write(f"{n} {tag}")


@dsl.pipeline(name="big")
def pipeline(n: int = 3, tag: str = "a"):
    make(n=n, tag=tag)


@dsl.pipeline(name="small")
def small(n: int = 1):
    make(n=n, tag="small")
""",
    )
    assert repo.pipe("run", "-f", "build.py", "-p", "n=5", "-p", "tag=1e3", check=True).code == 0
    assert repo.pipe("run", "-f", "build.py:small", check=True).code == 0
    for job, run in (("1", ["-f", "build.py", "-p", "n=5", "-p", "tag=1e3"]), ("2", ["-f", "build.py:small"])):
        dest = tmp_path / f"clone-{job}"
        r = repo.pipe("clone", "-f", "build.py", job, "-o", str(dest), "--json")
        assert r.code == 0, str(r)
        assert r.json["run"] == "pipe run " + " ".join(run), r.json
        r = Repo(dest).pipe("run", *run)
        assert r.code == 0 and "restored" in r.err and " ran" not in r.err, str(r)


def test_clone_of_an_azure_ml_pipeline_run_with_params_gives_them_to_the_run_command(repo, tmp_path):
    # An Azure ML pipeline's params are its `inputs:`: with no params: mapping to write a job's
    # -p values into, the clone was refused ("could not write job 1's params", exit 2) with a
    # hint to clone it first. Its run command now gives them, as for a Python pipeline.
    import shutil
    from pathlib import Path

    shutil.copytree(Path(__file__).parent / "azureml_fixtures" / "hello", repo.root, dirs_exist_ok=True)
    env = {"PIPE_AZUREML_ENV_MAP": str(repo.root / "envmap.yml")}
    assert repo.pipe("run", "-f", "pipeline.yml", "-p", "greeting=Bye", env=env).code == 0
    dest = tmp_path / "copy"
    r = repo.pipe("clone", "-f", "pipeline.yml", "last", "-o", str(dest), "--json", env=env)
    assert r.code == 0, str(r)
    assert r.json["run"] == "pipe run -f pipeline.yml -p greeting=Bye" and r.json["params_set"] == [], r.json
    assert (dest / "pipeline.yml").read_text().splitlines()[1] == "# Run it with that job's params: " + r.json["run"]
    r = Repo(dest).pipe("run", "-f", "pipeline.yml", "-p", "greeting=Bye", env=env)
    assert r.code == 0 and "restored" in r.err and " ran" not in r.err, str(r)


def test_clone_of_a_python_pipeline_run_with_a_param_spanning_lines(repo, tmp_path):
    # The run command the clone's first lines give (a Python pipeline's params go there) was
    # written into a comment as it is: a value with a line break ended the comment, the rest of
    # the value became a line of the module, and the clone failed (a SyntaxError in a temporary
    # build.py that was then removed). The comment shows the break escaped (clone_text.comment).
    repo.write(
        "build.py",
        """
from pipefile import dsl


@dsl.command_component
def make(tag: str, out: dsl.Output(type="uri_file")):
    open(out, "w").write(tag)


@dsl.pipeline(name="big")
def pipeline(tag: str = "a"):
    make(tag=tag)
""",
    )
    value = "x\nimport os\r\u2028\x01"
    assert repo.pipe("run", "-f", "build.py", "-p", f"tag={value}", check=True).code == 0
    dest = tmp_path / "clone"
    r = repo.pipe("clone", "-f", "build.py", "1", "-o", str(dest), "--json")
    assert r.code == 0, str(r)
    assert r.json["run_params"] == [f"tag={value}"]
    r = Repo(dest).pipe("run", "-f", "build.py", "-p", f"tag={value}")
    assert r.code == 0 and "restored" in r.err and " ran" not in r.err, str(r)


def test_clone_of_a_job_run_with_a_list_param_sets_it_as_the_default(repo, tmp_path):
    # A list param given with -p (sizes=x,y or a JSON list) made every clone of that job fail,
    # exit 2: the shorthand `sizes: [1, 2]` (or a block list) was not edited, and the -p flag
    # offered instead wrote YAML's `[x, y]`, which -p reads as no list. Now its default is set.
    steps = "".join(
        f"  {step}:\n    inputs: {{x: '${{{{params.{p}}}}}'}}\n    foreach: ${{{{inputs.x}}}}\n"
        f"    command: echo ${{{{inputs.x}}}} ${{{{params.n}}}} > ${{{{outputs.o}}}}\n    outputs: {{o: build/{step}/}}\n"
        for step, p in (("a", "sizes"), ("b", "more"), ("c", "long"))
    )
    repo.pipefile(
        "version: 1\nparams:\n  sizes: [1, 2]\n  more:\n    - a\n    - b\n  long:\n    type: list\n"
        "    default:\n    - 1e-3\n  n: 1  # kept\nsteps:\n" + steps
    )
    flags = ["-p", "sizes=x,y", "-p", 'more=["1e-3", "c d", 5]', "-p", "long=[1, Infinity]"]
    repo.pipe("run", *flags, check=True)
    r = repo.pipe("clone", "last", "-o", str(tmp_path / "c"))
    assert r.code == 0, str(r)
    text = (tmp_path / "c" / "Pipefile").read_text()
    assert "sizes: [x, y]\n" in text and '  more:\n      ["1e-3", c d, 5]\n' in text
    assert "  n: 1  # kept\n" in text and "    default:\n      [1, .inf]\n" in text, text
    c = Repo(tmp_path / "c")
    r = c.pipe("run", check=True)
    assert "restored" in r.err and " ran" not in r.err, str(r)
    assert c.read("build/a/x") == "x 1\n" and c.read("build/b/c d") == "c d 1\n" and c.read("build/c/inf") == "inf 1\n"
