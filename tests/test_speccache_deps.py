"""The spec cache (`.pipe/cache/specs`, speccache.py) against everything a loaded spec and
its graph depend on: an edit to any of it is seen by the next `pipe status` / `run` /
`validate` / `dag`, and an entry that is torn, foreign or hostile reads as a miss.

Each test keeps an entry first (a `pipe run`), changes one thing the load read, and asks again.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _entry(repo) -> Path:
    (entry,) = [p for p in (repo.root / ".pipe/cache/specs").iterdir() if not p.name.startswith(".")]
    return entry


def _states(repo, env=None, *args: str) -> dict:
    r = repo.pipe("status", "--json", *args, env=env)
    assert r.code == 0, str(r)
    return {s["name"]: s["state"] for s in r.json["steps"]}


def _std_library(tmp_path: Path) -> Path:
    """A small std library of one component, `std/hello@1`, whose script a test may change."""
    lib = tmp_path / "lib" / "stdlib_components"
    (lib / "_lib").mkdir(parents=True)
    (lib / "_lib" / "__init__.py").write_text("")
    (lib / "hello").mkdir()
    (lib / "hello" / "__main__.py").write_text("print('one')\n")
    (lib / "hello" / "component.yaml").write_text(
        textwrap.dedent("""\
            name: hello
            version: 1.0.0
            description: says hello
            outputs:
              o: {type: uri_file, description: "the greeting"}
            command: echo hello > ${{outputs.o}}
            """)
    )
    return lib


# The std environment of the Pipefile's own (local): nothing is built.
_LOCAL_STD = "environments:\n  std: {type: local}\n"


def test_a_std_component_used_only_by_a_nested_pipefile_is_followed(repo, tmp_path):
    """The top Pipefile never names `std/`; the Pipefile it uses as a component does. A new
    release of that component's script must still rerun the step (its digest is in the key)."""
    lib = _std_library(tmp_path)
    env = {"PIPE_STDLIB_DIR": str(lib)}
    repo.write(
        "sub/Pipefile",
        """\
        version: 1
        steps:
          hi:
            component: std/hello@1
            outputs: {o: build/hi.txt}
        """,
    )
    repo.pipefile("version: 1\n" + _LOCAL_STD + "steps:\n  inner:\n    component: ./sub/Pipefile\n")
    assert repo.outcomes(env=env) == {"inner/hi": "ran"}
    assert repo.outcomes(env=env) == {"inner/hi": "fresh"}  # (the entry is kept and read)
    (lib / "hello" / "__main__.py").write_text("print('two')\n")
    assert _states(repo, env) == {"inner/hi": "run"}
    assert repo.outcomes(env=env) == {"inner/hi": "ran"}


def test_a_std_script_rewritten_with_its_size_and_mtime_kept_is_seen(repo, tmp_path):
    """Same size, mtime set back (cp -p, tar, rsync -t do it): only the ctime tells."""
    lib = _std_library(tmp_path)
    env = {"PIPE_STDLIB_DIR": str(lib)}
    repo.pipefile("version: 1\n" + _LOCAL_STD + "steps:\n  hi:\n    component: std/hello@1\n    outputs: {o: hi.txt}\n")
    assert repo.outcomes(env=env) == {"hi": "ran"}
    assert repo.outcomes(env=env) == {"hi": "fresh"}
    script = lib / "hello" / "__main__.py"
    before = script.stat()
    script.write_text("print('owt')\n")
    os.utime(script, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert repo.outcomes(env=env) == {"hi": "ran"}


def test_a_pipefile_created_in_a_used_folder_takes_over(repo):
    """`component: ./sub` reads the first of Pipefile, Pipefile.yaml, Pipefile.yml in it: a
    Pipefile created beside the one that was read is the one to read from then on."""
    repo.write(
        "sub/Pipefile.yaml", "version: 1\nsteps:\n  old: {command: 'echo old > ${{outputs.o}}', outputs: {o: o.txt}}\n"
    )
    repo.pipefile("version: 1\nsteps:\n  use:\n    component: ./sub\n")
    assert repo.outcomes() == {"use/old": "ran"}
    assert repo.outcomes() == {"use/old": "fresh"}
    repo.write(
        "sub/Pipefile", "version: 1\nsteps:\n  new: {command: 'echo new > ${{outputs.o}}', outputs: {o: n.txt}}\n"
    )
    assert _states(repo) == {"use/new": "run"}
    assert repo.outcomes() == {"use/new": "ran"}


AZ_PIPELINE = """\
    $schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
    type: pipeline
    jobs:
      greet:
        component: azureml:greet@latest
    """
AZ_GREET = """\
    $schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
    name: greet
    version: VERSION
    type: command
    outputs:
      out: {type: uri_folder}
    command: echo VERSION > ${{outputs.out}}/o.txt
    """


def test_an_azureml_name_found_by_listing_follows_a_new_version(repo):
    """`azureml:greet@latest` is the newest YAML defining `name: greet` in the pipeline's
    folder tree: a file added there (or removed) changes what the name is, though no file the
    spec was read from changed (and a traced run's no-op record must see it too)."""
    repo.write("pipeline.yml", AZ_PIPELINE)
    repo.write("components/greet1.yml", AZ_GREET.replace("VERSION", "1"))
    for outcome in ("ran", "fresh", "fresh", "fresh"):
        assert repo.outcomes("-f", "pipeline.yml") == {"greet": outcome}
    repo.write("components/greet2.yml", AZ_GREET.replace("VERSION", "2"))
    assert _states(repo, None, "-f", "pipeline.yml") == {"greet": "run"}
    assert repo.outcomes("-f", "pipeline.yml") == {"greet": "ran"}
    assert repo.read(".azureml-outputs/pipeline/greet/out/o.txt") == "2\n"
    for _ in range(2):
        assert repo.outcomes("-f", "pipeline.yml") == {"greet": "fresh"}
    (repo.root / "components/greet2.yml").unlink()
    assert repo.outcomes("-f", "pipeline.yml") == {"greet": "restored"}
    assert repo.read(".azureml-outputs/pipeline/greet/out/o.txt") == "1\n"


DSL_BUILD = """\
from pipefile import dsl
from settings import WORD

say = dsl.command(name="say", command="echo " + WORD + " > ${{outputs.o}}", outputs={"o": dsl.Output(type="uri_file")})


@dsl.pipeline(name="p")
def p():
    s = say()
    s.outputs.o.path = "said.txt"


pipeline = p()
"""


def test_a_module_the_dsl_module_imports_is_followed(repo):
    """`pipe run -f build.py` runs Python: what it imports decides the pipeline as much as the
    file does. No run may stand for the next (the no-op record) without seeing those."""
    repo.write("settings.py", 'WORD = "one"\n')
    repo.write("build.py", DSL_BUILD)
    for outcome in ("ran", "fresh", "fresh", "fresh"):
        assert repo.outcomes("-f", "build.py") == {"s": outcome}
    repo.write("settings.py", 'WORD = "two"\n')
    assert _states(repo, None, "-f", "build.py") == {"s": "run"}
    assert repo.outcomes("-f", "build.py") == {"s": "ran"}
    assert repo.read("said.txt") == "two\n"


def _read_back(repo, *args: str, env=None) -> None:
    """The entry a run keeps is what the next run reads: it writes none (a miss writes one)."""
    for _ in range(2):
        assert repo.pipe("run", *args, env=env).code == 0
    entries = repo.root / ".pipe/cache/specs"
    before = {p.name: p.stat().st_ino for p in entries.iterdir()}
    r = repo.pipe("run", *args, env=env)
    assert r.code == 0, str(r)
    assert {p.name: p.stat().st_ino for p in entries.iterdir()} == before, "not read back: " + " ".join(args)


def test_what_is_kept_is_read_back(repo, tmp_path):
    """Never wasted: the checks a hit makes pass when nothing changed, for every shape of
    what they check (a matrix's graph holds its expanded spec; a nested Pipefile, a used
    folder, the std library, an Azure ML name found by listing)."""
    lib = _std_library(tmp_path)
    repo.write("sub/Pipefile.yml", "version: 1\nsteps:\n  hi:\n    component: std/hello@1\n    outputs: {o: hi.txt}\n")
    repo.pipefile(
        "version: 1\n" + _LOCAL_STD + "steps:\n  m:\n    matrix: {k: [1, 2]}\n    inputs: {k: {type: number}}\n"
        "    command: echo ${{inputs.k}}\n  use: {component: ./sub}\n"
    )
    _read_back(repo, env={"PIPE_STDLIB_DIR": str(lib)})
    repo.write("pipeline.yml", AZ_PIPELINE)
    repo.write("components/greet1.yml", AZ_GREET.replace("VERSION", "1"))
    _read_back(repo, "-f", "pipeline.yml")


def test_runs_from_a_subfolder_and_of_another_pipefile_keep_the_entry_of_the_first(repo):
    """Never wasted: the entry of a Pipefile run from its folder outlives a run from a
    subfolder (whose messages name paths from there: an entry of its own) and a run of
    another Pipefile beside it, so going back to the first reads it again."""
    repo.pipefile(SIMPLE)
    repo.write("other.yaml", SIMPLE.replace("out.txt", "other.txt"))
    (repo.root / "sub").mkdir()
    for _ in range(2):
        assert repo.pipe("run").code == 0
    (first,) = (repo.root / ".pipe/cache/specs").iterdir()
    kept = first.stat().st_ino
    r = subprocess.run(
        [sys.executable, "-m", "pipefile", "run"],
        cwd=repo.root / "sub",
        env={**os.environ, "PYTHONPATH": str(ROOT), "PIPE_PLAIN": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert repo.pipe("run", "-f", "other.yaml").code == 0
    assert len(list((repo.root / ".pipe/cache/specs").iterdir())) == 3
    assert repo.pipe("run").code == 0
    assert first.stat().st_ino == kept  # (read, not parsed and written again)


def test_every_module_the_load_imports_is_in_the_key():
    """A cached spec and graph must not outlive a change to any code that made them: every
    module of pipe a cold load imports (the graph's outputs' places, source checks, the
    dataclass machinery ...) is among the files whose stat the key holds: for a plain
    Pipefile, a matrix, a std component, a nested Pipefile and an Azure ML pipeline."""
    code = textwrap.dedent("""\
        import os, sys, tempfile
        from pipefile import speccache
        d = tempfile.mkdtemp()
        texts = [
            "version: 1\\nparams: {n: 1}\\nsteps:\\n  s:\\n    command: echo ${{params.n}} > ${{outputs.o}}\\n"
            "    outputs: {o: out.txt}\\n  m:\\n    matrix: {k: [1, 2]}\\n    inputs: {k: {type: number}}\\n"
            "    command: echo ${{inputs.k}}\\n",
            "version: 1\\nsteps:\\n  split:\\n    component: std/split_data@1\\n    inputs: {data: d.csv}\\n"
            "    outputs: {train: a.parquet, test: b.parquet}\\n  use: {component: ./sub.yaml}\\n",
        ]
        with open(os.path.join(d, "sub.yaml"), "w") as f:
            f.write(texts[0])
        with open(os.path.join(d, "d.csv"), "w") as f:
            f.write("a\\n1\\n")
        for i, text in enumerate(texts):
            with open(os.path.join(d, f"Pipefile{i}.yaml"), "w") as f:
                f.write(text)
            speccache.load_graph(os.path.join(d, f"Pipefile{i}.yaml"), cwd=d)
        speccache.load_graph(sys.argv[1], cwd=os.path.dirname(sys.argv[1]))
        keyed = {os.path.abspath(p) for p in speccache._loader_sources()}
        for name, m in sorted(sys.modules.items()):
            f = getattr(m, "__file__", None)
            if name.startswith("pipefile") and f and os.path.abspath(f) not in keyed:
                print(name)
        """)
    azureml = ROOT / "tests" / "azureml_fixtures" / "hello" / "pipeline.yml"
    p = subprocess.run([sys.executable, "-c", code, str(azureml)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [], "not in the spec cache's key: " + p.stdout


def test_a_sourceless_install_keeps_and_reads_entries(repo, tmp_path):
    """pipe installed as bytecode only (`compileall -b`, the sources removed: some deployments
    ship so): the key follows each module's .pyc where its .py is not (it crashed, exit 70)."""
    import compileall
    import shutil

    install = tmp_path / "install"
    shutil.copytree(ROOT / "pipefile", install / "pipefile", ignore=shutil.ignore_patterns("__pycache__"))
    assert compileall.compile_dir(str(install / "pipefile"), quiet=1, legacy=True)
    for source in (install / "pipefile").rglob("*.py"):
        source.unlink()
    env = {"PYTHONPATH": str(install)}
    repo.pipefile(SIMPLE)
    python = sys.executable
    assert repo.outcomes(env=env, python=python) == {"s": "ran"}
    assert repo.outcomes(env=env, python=python) == {"s": "fresh"}
    assert [p.name for p in (repo.root / ".pipe/cache/specs").iterdir()]  # (kept)
    r = repo.pipe("status", env=env, python=python)
    assert r.code == 0 and "fresh" in r.out, str(r)


def _rewrite_entry(repo, change) -> None:
    entry = _entry(repo)
    data = pickle.loads(entry.read_bytes())
    entry.write_bytes(pickle.dumps(change(data)))


SIMPLE = "version: 1\nsteps:\n  s: {command: echo one > out.txt, outputs: {o: out.txt}}\n"


def _kept(repo) -> None:
    repo.pipefile(SIMPLE)
    assert repo.outcomes() == {"s": "ran"}
    assert repo.outcomes() == {"s": "fresh"}


def _all_answer(repo) -> None:
    for command in ("status", "validate", "dag"):
        r = repo.pipe(command)
        assert r.code == 0, f"{command}: {r}"
    assert repo.outcomes() == {"s": "fresh"}
    assert repo.outcomes() == {"s": "fresh"}  # (a sound entry is kept again)


class Bare:
    """Unpickles, and has what a spec's sources check reads, but is no spec."""

    sources = ()


def test_an_entry_of_the_wrong_shape_is_a_miss(repo):
    """Whatever unpickles from an entry (another version's layout, a hand-made file) is
    checked for what it must be before it is used: otherwise a miss, never a crash."""
    _kept(repo)
    for change in (
        lambda d: [d],
        lambda d: {"spec": Bare(), "graph": None},
        lambda d: {**d, "graph": (d["graph"][0], "not a graph")},
        lambda d: {**d, "graph": (d["graph"][0], Bare())},
        lambda d: {**d, "graph": "junk"},
        lambda d: {"spec": d["graph"][1], "graph": d["graph"]},
    ):
        _rewrite_entry(repo, change)
        _all_answer(repo)


class _Runs:
    """Unpickles as a call of `how` with `args`: what a hostile entry would do."""

    def __init__(self, how, args):
        self.how, self.args = how, args

    def __reduce__(self):
        return self.how, self.args


def test_every_class_an_entry_of_the_examples_holds_reads_back(tmp_path):
    """The unpickler of entries takes pipe's spec and graph classes only: what the examples
    and the Azure ML fixtures keep (specs, graphs with matrices, sweeps, foreach, nested
    pipelines, std components) all reads back (a class left out would make them all misses)."""
    import io
    import shutil

    from pipefile import graph, load, speccache

    found = sorted(ROOT.glob("examples/*/Pipefile")) + sorted(ROOT.glob("tests/azureml_fixtures/*/pipeline.yml"))
    assert len(found) >= 6
    for i, path in enumerate(found + [ROOT / "Pipefile.example"]):
        copy = tmp_path / str(i)
        shutil.copytree(path.parent, copy, ignore=shutil.ignore_patterns(".pipe", "__pycache__"))
        pf, errors = load.load_lenient(str(copy / path.name))
        assert not errors, (path, errors)
        try:
            built = ("sig", graph.build(pf, load.resolve_params(pf, {}, [])))
        except Exception:  # noqa: BLE001 - (a source a step makes first: the spec alone then)
            built = None
        data = pickle.dumps({"spec": pf, "graph": built, "std": None}, protocol=pickle.HIGHEST_PROTOCOL)
        assert speccache._unpickle(io.BytesIO(data))["spec"] == pf, path


def test_an_entry_that_would_run_code_as_it_unpickles_runs_none(repo):
    """An entry is pipe's own data: unpickling one builds pipe's spec and graph classes and
    nothing else. A `.pipe/` that came with a copied or unpacked workspace must not run code
    on `pipe status` (which runs nothing) or any other command: it is a miss."""
    import builtins

    _kept(repo)
    pwned = repo.root / "pwned"
    for how, args in (
        (os.system, (f"touch {pwned}",)),
        (builtins.exec, (f"open({str(pwned)!r}, 'w').close()",)),
        (subprocess.call, (["touch", str(pwned)],)),
    ):
        _rewrite_entry(repo, lambda d, how=how, args=args: {**d, "std": _Runs(how, args)})
        _all_answer(repo)
        assert not pwned.exists(), how


def test_a_torn_or_odd_entry_is_a_miss(repo):
    _kept(repo)
    entry = _entry(repo)
    whole = entry.read_bytes()
    for torn in (b"", whole[: len(whole) // 2], b"\x00" * 4096, b"garbage"):
        entry.write_bytes(torn)
        _all_answer(repo)
        entry = _entry(repo)
    entry.unlink()
    os.mkfifo(entry)  # (an open that waited for a writer would hang every command)
    for command in ("status", "validate", "dag"):
        r = repo.pipe(command, timeout=30)
        assert r.code == 0, f"{command}: {r}"
    entry.unlink()
    entry.mkdir()
    (entry.parent / "other").mkdir()  # (a folder under another name: no write may stop at it)
    r = repo.pipe("run", timeout=30)
    assert r.code == 0, str(r)
    assert [p.name for p in entry.parent.iterdir()] == [entry.name] and entry.is_file()  # (kept again)
