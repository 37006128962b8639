"""Faults found reviewing the Python DSL (docs/dsl.md), each test failing before its fix."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from workspace_repo import Repo

ROOT = Path(__file__).resolve().parent.parent

CHAIN = """\
from pipefile import dsl

copy = dsl.command(
    name="copy",
    command="cp ${{inputs.data}} ${{outputs.out}}",
    inputs={"data": "uri_file", "n": dsl.Input(type="integer", default=1)},
    outputs={"out": dsl.Output(type="uri_file")},
)


@dsl.pipeline(name="chain")
def chain(n: int = 1, data=dsl.Input(type="uri_file", path="data/x.csv")):
    a = copy(data=data, n=n)
    b = copy(data=a.outputs.out)


pipeline = chain()
"""


def test_a_module_in_another_folder_is_read_from_where_f_names_it(repo: Repo):
    # `-f proj/build.py` from outside proj/: the module's path was made absolute only after
    # the loader had moved into proj/, so it looked for proj/proj/build.py
    repo.write("proj/data/x.csv", "a\n")
    repo.write("proj/build.py", CHAIN)
    first = repo.pipe("run", "-f", "proj/build.py")
    assert first.code == 0, str(first)
    assert repo.read("proj/build/b/out") == "a\n"
    again = repo.pipe("status", "-f", "proj/build.py")
    assert again.code == 0 and "up to date" in again.out + again.err, str(again)
    exported = repo.pipe("export", "proj/build.py")
    assert exported.code == 0 and "component: copy" in exported.out, str(exported)


def test_errors_of_a_module_in_another_folder_name_files_from_the_current_one(repo: Repo):
    # the loader wrote the files of errors raised while the module ran (and the frame a
    # crash names) relative to the module's folder, not to where pipe was run
    repo.write("proj/data/x.csv", "a\n")
    repo.write("proj/helper.py", "def boom():\n    raise ValueError('bad value')\n")
    repo.write("proj/crash.py", "import helper\n\nhelper.boom()\n")
    crash = repo.pipe("status", "-f", "proj/crash.py")
    assert crash.code == 2 and crash.err.startswith("proj/helper.py:2: running proj/crash.py failed"), str(crash)
    assert "(at proj/helper.py:2 in boom" in crash.err, str(crash)
    repo.write("proj/c.yaml", "inputs: {data: uri_fil}\noutputs: {out: uri_file}\ncommand: cp ${{inputs.data}} x\n")
    repo.write("proj/bad.py", "from pipefile import dsl\n\nc = dsl.load_component('c.yaml')\n")
    bad = repo.pipe("status", "-f", "proj/bad.py")
    assert bad.code == 2 and bad.err.startswith("proj/c.yaml:1:"), str(bad)
    repo.write("proj/build.py", CHAIN.replace("b = copy(data=a.outputs.out)", "b = copy(data=a.outputs.oops)"))
    wrong = repo.pipe("status", "-f", "proj/build.py")
    assert wrong.code == 2 and wrong.err.startswith("proj/build.py:14: component 'copy' has no output"), str(wrong)


def test_a_component_file_that_is_not_yaml_is_refused_at_its_line(repo: Repo):
    # PyYAML's error escaped load_component: "running build.py failed: ParserError" at the
    # call, with PyYAML's own frame named as where it happened
    repo.write("comp.yaml", "name: copy\ninputs: [data\noutputs: {out: uri_file}\ncommand: cp a b\n")
    repo.write("build.py", "from pipefile import dsl\n\ncopy = dsl.load_component('comp.yaml')\n")
    r = repo.pipe("status", "-f", "build.py")
    assert r.code == 2, str(r)
    assert r.err.startswith("comp.yaml:3: load_component('comp.yaml'): invalid YAML"), str(r)
    assert "ParserError" not in r.err and "running build.py failed" not in r.err, str(r)
    repo.write("folder/x", "")
    repo.write("build.py", "from pipefile import dsl\n\ncopy = dsl.load_component('folder')\n")
    r = repo.pipe("status", "-f", "build.py")
    assert r.code == 2 and r.err.startswith("build.py:3: load_component('folder'): "), str(r)


MODULE_READING_A_SIBLING = """\
from pipefile import dsl
import settings

copy = dsl.command(
    name="copy",
    command="cp ${{inputs.data}} ${{outputs.out}}",
    inputs={"data": "uri_file", "n": "integer"},
    outputs={"out": "uri_file"},
)


@dsl.pipeline
def chain(n: int = settings.N):
    copy(data="x.csv", n=n)


pipeline = chain()
"""


def test_a_process_that_loads_a_module_again_reads_its_edited_siblings(tmp_path, monkeypatch):
    # pipe ui loads `-f build.py` in one process again and again: the sibling module that
    # build.py imports stayed in sys.modules, so an edit of it was never seen there (its
    # params, its components: stale), where a new process sees it
    from pipefile.load import pymodule

    monkeypatch.chdir(tmp_path)
    (tmp_path / "settings.py").write_text("N = 1\n")
    (tmp_path / "build.py").write_text(MODULE_READING_A_SIBLING)
    assert pymodule.pipeline_object("build.py")[0].params == {"n": ("integer", 1)}
    (tmp_path / "settings.py").write_text("N = 22\n")  # (another size: no stale bytecode)
    assert pymodule.pipeline_object("build.py")[0].params == {"n": ("integer", 22)}
    assert "settings" not in sys.modules


def test_modules_loaded_from_two_threads_each_run_in_their_own_folder(tmp_path, monkeypatch):
    # the loader moves into the module's folder (the process's working folder): a second
    # thread's load (pipe ui serves from a thread pool) moved it back while the first module
    # still read a file of its own folder
    from pipefile.load import pymodule

    monkeypatch.chdir(tmp_path)
    slow, fast = tmp_path / "slow", tmp_path / "fast"
    for folder in (slow, fast):
        folder.mkdir()
        (folder / "x.csv").write_text("a\n")
    (slow / "settings.py").write_text("import time\n\ntime.sleep(1)\nwith open('x.csv') as f:\n    N = len(f.read())\n")
    (slow / "build.py").write_text(MODULE_READING_A_SIBLING)
    (fast / "build.py").write_text(MODULE_READING_A_SIBLING.replace("import settings", "").replace("settings.N", "3"))
    got: dict = {}

    def load(name: str) -> None:
        try:
            got[name] = pymodule.pipeline_object(f"{name}/build.py")[0].params
        except Exception as e:  # noqa: BLE001 - the test reports it
            got[name] = e

    first = threading.Thread(target=load, args=("slow",))
    first.start()
    time.sleep(0.3)
    load("fast")
    first.join()
    assert got == {"slow": {"n": ("integer", 2)}, "fast": {"n": ("integer", 3)}}, got
    assert os.getcwd() == str(tmp_path)


def _python_blocks(doc: str) -> list:
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / doc).read_text(), re.S)


def test_the_pipeline_component_example_of_the_docs_loads_with_their_components(repo: Repo):
    # docs/dsl.md named its pipeline component "train", as its command_component `train`
    # it calls: the example refused itself ("two different components are named 'train'")
    blocks = _python_blocks("dsl.md")
    prep = next(b for b in blocks if b.startswith("prep = dsl.command("))
    train = next(b for b in blocks if b.startswith('@dsl.command_component(name="train"'))
    nested = next(b for b in blocks if "def train_pipe" in b)
    report = (
        'report = dsl.command(name="report", command="cat ${{inputs.model}}/* > ${{outputs.r}}", '
        'inputs={"model": "uri_folder"}, outputs={"r": "uri_file"})\n'
    )
    repo.write("comps.py", "from pipefile import dsl\n\n" + train, dedent=False)
    repo.write(
        "build.py",
        "from comps import train\n\nfrom pipefile import dsl\n\n" + prep + report + nested + "\npipeline = main()\n",
        dedent=False,
    )
    for rel in ("src/prepare.py", "configs/train.yaml", "envs/prep.txt", "data/wine.csv"):
        repo.write(rel, "")
    r = repo.pipe("validate", "-f", "build.py")
    assert r.code == 0 and "ok (3 steps, 5 tasks" in r.out + r.err, str(r)


def test_two_steps_named_alike_are_placed_at_both_python_lines(repo: Repo):
    # the loader's "appears twice ... (first at line N)" named a line of the Pipefile text
    # the module stands for, which the user never sees, instead of the first call's line
    repo.write("data/x.csv", "a\n")
    repo.write(
        "build.py",
        CHAIN.replace("b = copy(data=a.outputs.out)\n", 'b = copy(data=a.outputs.out)\n    a.name = b.name = "same"\n'),
    )
    r = repo.pipe("status", "-f", "build.py")
    assert r.code == 2, str(r)
    assert r.err.startswith("build.py:14: 'same' appears twice in steps (first at build.py:13)"), str(r)


def test_a_pipeline_function_takes_its_arguments_by_position_too(repo: Repo):
    # wine(0.2) failed with Python's own TypeError about PipelineFunction.__call__ (as "running
    # build.py failed"), where a Python function (and azure.ai.ml's pipelines) take it
    repo.write("data/x.csv", "a\n")
    repo.write("build.py", CHAIN.replace("pipeline = chain()", "pipeline = chain(5)"))
    repo.write("many.py", CHAIN.replace("pipeline = chain()", "pipeline = chain(1, 'x.csv', 3)"))
    assert repo.pipe("validate", "-f", "build.py").code == 0
    exported = repo.pipe("export", "build.py")
    assert "n:\n    type: integer\n    default: 5\n" in exported.out, str(exported)
    r = repo.pipe("validate", "-f", "many.py")
    assert r.code == 2 and r.err.startswith("many.py:17: pipeline 'chain': too many positional arguments"), str(r)
    assert "PipelineFunction" not in r.err, str(r)


def test_a_bad_output_path_is_placed_where_it_was_set(repo: Repo):
    # `node.outputs.X.path = ...` (docs/dsl.md: output paths) was placed at the call that made
    # the node, lines away from the assignment that holds the mistake
    repo.write("data/x.csv", "a\n")
    repo.write("build.py", CHAIN.replace("    b = copy(", '    a.outputs.out.path = "../out"\n    b = copy('))
    r = repo.pipe("status", "-f", "build.py")
    assert r.code == 2 and r.err.startswith("build.py:14: output 'out' of step 'a': '../out' is outside"), str(r)
    repo.write(
        "build.py", CHAIN.replace("    b = copy(", '    a.outputs.out = dsl.Output(path="build/b/out")\n    b = copy(')
    )
    r = repo.pipe("status", "-f", "build.py")
    assert r.code == 2 and "'build/b/out' is produced by two steps: 'a' (build.py:14) and 'b'" in r.err, str(r)


def test_a_command_component_in_a_package_runs_with_its_relative_imports(repo: Repo):
    # the step ran the component's module as a loose file (runpy.run_path), so a module of a
    # package that the pipeline had imported fine failed at run time: "attempted relative
    # import with no known parent package"
    repo.write("pkg/__init__.py", "")
    repo.write("pkg/util.py", "def twice(s):\n    return s + s\n")
    repo.write(
        "pkg/steps.py",
        "from pipefile import dsl\n\nfrom .util import twice\n\n\n@dsl.command_component\n"
        "def double(msg: str, out: dsl.Output(type='uri_file') = None):\n"
        "    open(out, 'w').write(twice(msg))\n",
    )
    repo.write(
        "build.py",
        "from pkg.steps import double\n\nfrom pipefile import dsl\n\n\n@dsl.pipeline\n"
        "def p():\n    a = double(msg='hi')\n\n\npipeline = p()\n",
    )
    assert repo.outcomes("-f", "build.py") == {"a": "ran"}
    assert repo.read("build/a/out") == "hihi"


def test_a_sibling_module_edited_within_its_second_is_read_again(repo: Repo):
    # Python trusts a module's bytecode (__pycache__) while its source keeps its size and its
    # mtime in whole seconds: settings.py edited to N = 7 within the second the N = 1 version
    # was written (made certain here with one mtime) built the pipeline of N = 1
    repo.write("x.csv", "a\n")
    repo.write("build.py", MODULE_READING_A_SIBLING)
    env = {"PYTHONDONTWRITEBYTECODE": ""}  # (bytecode written, as a user's Python does)
    for n in (1, 7):
        settings = repo.write("settings.py", f"N = {n}\n")
        os.utime(settings, (1_700_000_000, 1_700_000_000))
        exported = repo.pipe("export", "build.py", env=env)
        assert f"n:\n    type: integer\n    default: {n}\n" in exported.out, str(exported)


def test_a_command_component_edited_within_its_second_runs_its_new_code(repo: Repo):
    # the step imports a package's module (above): from bytecode that Python trusts on size
    # and whole-second mtime, so an edit of one character within that second reran the step
    # (its key holds the file's content) with the old code, its output kept as the new one's
    repo.write("pkg/__init__.py", "")
    steps = (
        "from pipefile import dsl\n\n\n@dsl.command_component\n"
        "def say(out: dsl.Output(type='uri_file') = None):\n    open(out, 'w').write('{}')\n"
    )
    repo.write(
        "build.py",
        "from pkg.steps import say\n\nfrom pipefile import dsl\n\n\n@dsl.pipeline\n"
        "def p():\n    a = say()\n\n\npipeline = p()\n",
    )
    env = {"PYTHONDONTWRITEBYTECODE": ""}  # (bytecode written, as a user's Python does)
    for word in ("one", "two"):
        module = repo.write("pkg/steps.py", steps.format(word))
        os.utime(module, (1_700_000_000, 1_700_000_000))
        assert repo.pipe("run", "-f", "build.py", env=env).code == 0
        assert repo.read("build/a/out") == word


def test_export_over_a_folder_is_refused_and_over_a_file_replaces_it_whole(repo: Repo):
    # `pipe export build.py -o FOLDER --force` was an internal error (exit 70, IsADirectoryError),
    # and --force wrote the Pipefile in place (a full disk or a kill midway left it cut short):
    # it is now written beside it and renamed over it
    repo.write("data/x.csv", "a\n")
    repo.write("build.py", CHAIN)
    (repo.root / "out").mkdir()
    folder = repo.pipe("export", "build.py", "-o", "out", "--force")
    assert folder.code == 2 and "out is a folder" in folder.err, str(folder)
    repo.write("Pipefile", "old\n")
    done = repo.pipe("export", "build.py", "-o", "Pipefile", "--force")
    assert done.code == 0 and repo.read("Pipefile").startswith("# Written by `pipe export build.py`"), str(done)
    assert sorted(p.name for p in repo.root.iterdir()) == ["Pipefile", "build.py", "data", "out"]


def test_a_component_file_naming_a_path_above_it_is_told_why(repo: Repo):
    # docs/dsl.md said a loaded component's code paths are rebased onto the workspace (inside
    # it), yet one above the component file's folder (../src/x.sh, inside the workspace) is
    # refused, with a Pipefile's words: "outside the workspace (the Pipefile's folder)"
    repo.write("src/x.sh", "cp $1 $2\n")
    repo.write(
        "components/copy.yaml",
        "inputs: {data: uri_file}\noutputs: {out: uri_file}\ncode: [../src/x.sh]\n"
        "command: sh src/x.sh ${{inputs.data}} ${{outputs.out}}\n",
    )
    repo.write("build.py", "from pipefile import dsl\n\ncopy = dsl.load_component('components/copy.yaml')\n")
    r = repo.pipe("status", "-f", "build.py")
    assert r.code == 2, str(r)
    assert r.err.startswith(
        "components/copy.yaml:3:8: code of component 'copy': '../src/x.sh' is outside the component"
    ), str(r)
    assert "Pipefile's folder" not in r.err and "put the file beside" in r.err, str(r)


def test_a_keyword_catch_all_is_named_with_its_two_stars(repo: Repo):
    # `def p(**kw)` was refused as "*kw cannot be a param", a parameter the user never wrote
    repo.write(
        "build.py",
        "from pipefile import dsl\n\n\n@dsl.pipeline\ndef p(**options):\n    pass\n\n\npipeline = p()\n",
    )
    r = repo.pipe("status", "-f", "build.py")
    assert r.code == 2 and r.err.startswith("build.py:4: pipeline 'p': **options cannot be a param"), str(r)
    repo.write(
        "build.py",
        "from pipefile import dsl\n\n\n@dsl.command_component\ndef c(*args, out: dsl.Output = None):\n    pass\n",
    )
    r = repo.pipe("status", "-f", "build.py")
    assert r.code == 2 and "command_component 'c': *args cannot be a port" in r.err, str(r)


def test_a_pipeline_builds_under_a_profiler_and_its_steps_keep_their_names(repo: Repo):
    # the steps were named by swapping sys.setprofile for the pipeline function's run: a
    # profiler the user ran (python -m cProfile -m pipefile ...) was switched off, and putting
    # cProfile's back failed: "TypeError: 'Profile' object is not callable", exit 2
    repo.write("data/x.csv", "a\n")
    repo.write("build.py", CHAIN)
    p = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", os.devnull, "-m", "pipefile", "status", "--json", "-f", "build.py"],
        cwd=repo.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert [s["name"] for s in json.loads(p.stdout)["steps"]] == ["a", "b"]


def test_export_to_a_fifo_with_force_writes_through(repo: Repo):
    # Writing beside the file and renaming over it (above) replaced a FIFO named by -o with a
    # file (the reader at the FIFO waited for ever); `-o -` is stdout.
    repo.write("data/x.csv", "a\n")
    repo.write("build.py", CHAIN)
    fifo = repo.root / "pipe.fifo"
    os.mkfifo(fifo)
    got: list = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    done = repo.pipe("export", "build.py", "-o", "pipe.fifo", "--force")
    if not got:  # (unblock the reader: a run that replaced the FIFO never opened it)
        with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK) if fifo.is_fifo() else os.devnull, "w"):
            pass
    reader.join(60)
    assert done.code == 0 and got and got[0].startswith("# Written by"), str(done)
    assert fifo.is_fifo()


def test_a_module_from_outside_the_folder_is_read_again_by_the_next_load(tmp_path):
    # A long-lived process (pipe serve, pipe ui) loads Python pipelines again and again: a
    # module the pipeline imported from a folder it put on sys.path (../shared) was kept from
    # the first load, so the next one got its old code however the file had changed, and each
    # load left its folder on sys.path. Both go after each load now, as a new process has it.
    import sys

    from pipefile.load.pymodule import run_module

    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "pipe_shared_helper.py").write_text("VALUE = 1\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "build.py").write_text(
        f"import sys\nsys.path.insert(0, {str(shared)!r})\nimport pipe_shared_helper\nVALUE = pipe_shared_helper.VALUE\n"
    )
    path_before = list(sys.path)
    try:
        assert run_module(str(work / "build.py"), "VALUE")[0] == 1
        assert sys.path == path_before and "pipe_shared_helper" not in sys.modules
        (shared / "pipe_shared_helper.py").write_text("VALUE = 22\n")
        assert run_module(str(work / "build.py"), "VALUE")[0] == 22
        # the interpreter's own modules stay (imported once, as by any process), and so does
        # an installed package found through PYTHONPATH (HPC modules put torch there)
        installed = tmp_path / "apps" / "lib" / "python3" / "site-packages"
        installed.mkdir(parents=True)
        (installed / "pipe_installed_pkg.py").write_text("X = 1\n")
        (work / "build.py").write_text(
            f"import sys\nsys.path.insert(0, {str(installed)!r})\nimport json\nimport xxhash\n"
            "import pipe_installed_pkg\nVALUE = 3\n"
        )
        sys.modules.pop("xxhash", None)
        assert run_module(str(work / "build.py"), "VALUE")[0] == 3
        assert "xxhash" in sys.modules and "pipe_installed_pkg" in sys.modules
    finally:
        sys.path[:] = path_before
        sys.modules.pop("pipe_shared_helper", None)
        sys.modules.pop("pipe_installed_pkg", None)


_COUNT_PARSES = """\
import ast, collections, sys
parsed = collections.Counter()
real = ast.parse
def counting(source, filename="<unknown>", *a, **k):
    parsed[filename] += 1
    return real(source, filename, *a, **k)
ast.parse = counting  # (a spy: the real parse runs; only how often each file is read is kept)
from pipefile.load.document import load_module
pf, errors = load_module("build.py")
assert not errors, errors
print(max(n for f, n in parsed.items() if f.endswith(".py")), len(pf.steps))
"""


def test_the_components_of_one_module_read_its_imports_once_per_load(tmp_path):
    # Each command_component walked its module's workspace imports on its own: 40 components
    # of a module importing 300 modules made `pipe status` take 7.5 s (0.3 s before imports
    # were followed). Each module is read once now, however many components share it.
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "__init__.py").write_text("")
    for i in range(30):
        (lib / f"m{i}.py").write_text(f"from lib import m{(i + 1) % 30}\n\n\ndef f(x):\n    return x\n")
    comps = "".join(
        f"\n\n@dsl.command_component\ndef c{k}(out: dsl.Output(type='uri_file')):\n    open(out, 'w').write('x')\n"
        for k in range(20)
    )
    (tmp_path / "steps.py").write_text("from pipefile import dsl\nfrom lib import m0\n" + comps)
    calls = "\n".join(f"    steps.c{k}()" for k in range(20))
    (tmp_path / "build.py").write_text(
        f"from pipefile import dsl\nimport steps\n\n\n@dsl.pipeline(name='p')\ndef p():\n{calls}\n\n\npipeline = p()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_PARSES], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    most, steps = map(int, done.stdout.split())
    assert steps == 20
    assert most == 1


_LOAD_TWICE = """\
import os, sys
from pipefile.load.pymodule import run_module
build = os.path.join(sys.argv[1], "build.py")
first = run_module(build, "VALUE")[0]
with open(sys.argv[2], "w") as f:
    f.write("VALUE = 22\\n")
print(first, run_module(build, "VALUE")[0])
"""


def test_a_module_outside_the_folder_is_read_again_even_with_the_workspace_under_pythons_prefix(tmp_path):
    # Python's own modules were told apart by the interpreter's prefix: with the workspace
    # under it (/usr/src/app with a system Python, whose prefix is /usr) a ../shared module
    # counted as Python's, was kept by a long-lived process (pipe serve, pipe ui), and the
    # next load got its old code. A virtual environment holding the workspace is that layout.
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(env)], check=True)
    shared = env / "src" / "shared"
    shared.mkdir(parents=True)
    (shared / "pipe_shared_under_prefix.py").write_text("VALUE = 1\n")
    work = env / "src" / "app"
    work.mkdir()
    (work / "build.py").write_text(
        f"import sys\nsys.path.insert(0, {str(shared)!r})\nimport pipe_shared_under_prefix\n"
        "VALUE = pipe_shared_under_prefix.VALUE\n"
    )
    python = env / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", _LOAD_TWICE, str(work), str(shared / "pipe_shared_under_prefix.py")],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "22"]


def test_a_pipeline_function_the_module_did_not_call_sees_what_the_module_imported(repo: Repo):
    # `-f build.py:p` names a @dsl.pipeline function, called after the module ran. Each run
    # forgot the modules of ../shared and put sys.path back, so a package of ../shared that
    # imports a submodule when used (`from . import sub`) failed in the function: "No module
    # named 'sharedpkg'", exit 2, where it loaded before. One load keeps both for its runs.
    shared = repo.root.parent / "shared" / "sharedpkg"
    shared.mkdir(parents=True)
    (shared / "__init__.py").write_text("def steps(copy):\n    from . import sub\n\n    return sub.two(copy)\n")
    (shared / "sub.py").write_text("def two(copy):\n    return copy(data='data/x.txt')\n")
    repo.write("data/x.txt", "hi\n")
    repo.write(
        "build.py",
        "import os\nimport sys\n\n"
        "sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'shared'))\n"
        "import sharedpkg\n\nfrom pipefile import dsl\n\n"
        "copy = dsl.command(name='copy', command='cp ${{inputs.data}} ${{outputs.out}}',\n"
        "    inputs={'data': 'uri_file'}, outputs={'out': dsl.Output(type='uri_file')})\n\n\n"
        "@dsl.pipeline(name='p')\ndef p():\n    sharedpkg.steps(copy)\n",
    )
    assert repo.outcomes("-f", "build.py:p") == {"copy": "ran"}
    assert repo.read("build/copy/out") == "hi\n"


def test_a_module_a_step_generates_is_not_in_the_key_of_the_component_importing_it(repo: Repo):
    # A command_component importing a module that a step of the pipeline writes (gen/schema.py)
    # had it in its key only when the file was there at load: the first run of a clean
    # checkout keyed the step without it, the next with it, so the step ran again for nothing
    # (and a remote's entries, keyed on a machine where it was there, never matched a fresh
    # clone's). The step reads the file as its input: the output's own hash covers it.
    repo.write(
        "steps.py",
        "from pipefile import dsl\n\n"
        "gen = dsl.command(name='gen', command=\"echo 'X = 5' > ${{outputs.out}}\",\n"
        "    outputs={'out': dsl.Output(type='uri_file')})\n\n\n"
        "@dsl.command_component\n"
        "def use(src: dsl.Input(type='uri_file'), out: dsl.Output(type='uri_file')):\n"
        "    import gen.schema as s\n\n    open(out, 'w').write(str(s.X))\n",
    )
    repo.write(
        "build.py",
        "from pipefile import dsl\nimport steps\n\n\n@dsl.pipeline(name='p')\ndef p():\n"
        "    g = steps.gen()\n    g.outputs.out.path = 'gen/schema.py'\n    steps.use(src=g.outputs.out)\n\n\n"
        "pipeline = p()\n",
    )
    assert repo.outcomes("-f", "build.py") == {"g": "ran", "use": "ran"}
    assert repo.read("build/use/out") == "5"
    assert repo.outcomes("-f", "build.py") == {"g": "fresh", "use": "fresh"}


def test_a_workspace_module_found_through_pythonpath_is_in_the_key(repo: Repo):
    # A src/ layout: the package is found through PYTHONPATH=src (or an editable install of
    # the workspace's own package), not from the module's folder. Only the module's folder and
    # the workspace were searched, so an edit of src/mylib.py left the step fresh on its old
    # output. What the step's Python finds inside the workspace is in the key now.
    repo.write("src/mylib.py", "def mark(s):\n    return s + '!'\n")
    repo.write(
        "steps.py",
        "from pipefile import dsl\n\n\n@dsl.command_component\n"
        "def use(out: dsl.Output(type='uri_file')):\n    from mylib import mark\n\n"
        "    open(out, 'w').write(mark('x'))\n",
    )
    repo.write(
        "build.py",
        "from pipefile import dsl\nimport steps\n\n\n@dsl.pipeline(name='p')\ndef p():\n    steps.use()\n\n\n"
        "pipeline = p()\n",
    )
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), str(repo.root / "src")])}
    assert repo.outcomes("-f", "build.py", env=env) == {"use": "ran"}
    assert repo.read("build/use/out") == "x!"
    repo.write("src/mylib.py", "def mark(s):\n    return s + '?'\n")
    assert repo.outcomes("-f", "build.py", env=env) == {"use": "ran"}
    assert repo.read("build/use/out") == "x?"
    assert repo.outcomes("-f", "build.py", env=env) == {"use": "fresh"}


def test_a_module_that_ends_the_process_while_loading_is_an_error_not_a_success(repo: Repo):
    # os._exit in the module ran in pipe's process: pipe ended with the module's status, 0
    # for os._exit(0), so `pipe run` in CI passed having run nothing
    repo.write("proj/data/x.csv", "a\n")
    repo.write("proj/helper.py", "import os\n\n\ndef leave():\n    os._exit(0)\n")
    repo.write(
        "proj/build.py",
        CHAIN.replace("from pipefile import dsl\n", "from pipefile import dsl\nimport helper\n") + "\nhelper.leave()\n",
    )
    r = repo.pipe("run", "-f", "proj/build.py")
    assert r.code == 2, str(r)
    assert r.err.startswith(
        "proj/helper.py:5: running proj/build.py failed: it called os._exit(0), which would end pipe"
    ), str(r)
    assert 'hint: end the process only when run as a script, under `if __name__ == "__main__":`' in r.err
    assert not repo.exists("proj/build")
    # What the module starts in a process of its own still ends as it asks.
    repo.write(
        "proj/build.py", CHAIN + "\nimport os\nif os.fork() == 0:\n    os._exit(7)\nassert os.wait()[1] >> 8 == 7\n"
    )
    r = repo.pipe("run", "-f", "proj/build.py")
    assert r.code == 0 and repo.read("proj/build/b/out") == "a\n", str(r)


def test_a_loaded_component_runs_the_script_of_its_own_folder_from_a_module_two_folders_away(repo: Repo):
    # `command: python score.py ...` in lib/steps/score/component.yaml, loaded by
    # lib/steps/defs.py and used by build.py: its code: was rebased (lib/steps/score/score.py
    # in the key) but its command was copied as written and ran in the workspace, so the step
    # ran the workspace's own score.py (or failed: no such file) while its key named another.
    repo.write(
        "lib/steps/score/component.yaml",
        "name: score\ninputs:\n  n: {type: integer, default: 3}\noutputs:\n  o: {type: uri_file}\n"
        "code: [score.py, conf.txt]\n"
        "command: python score.py ${{inputs.n}} 'conf.txt' ${{outputs.o}} && python -m json.tool /dev/null || true\n",
    )
    repo.write(
        "lib/steps/score/score.py",
        "import sys\nopen(sys.argv[3], 'w').write('score ' + sys.argv[1] + ' ' + open(sys.argv[2]).read())\n",
    )
    repo.write("lib/steps/score/conf.txt", "v1\n")
    repo.write("score.py", "import sys\nopen(sys.argv[3], 'w').write('the wrong score.py\\n')\n")
    repo.write("conf.txt", "the wrong conf\n")
    repo.write("lib/__init__.py", "")
    repo.write("lib/steps/__init__.py", "")
    repo.write("lib/steps/defs.py", "from pipefile import dsl\n\nscore = dsl.load_component('score/component.yaml')\n")
    repo.write(
        "build.py",
        "from lib.steps.defs import score\n\nfrom pipefile import dsl\n\n\n@dsl.pipeline(name='p')\n"
        "def p(n: int = 4):\n    s = score(n=n)\n    s.outputs.o.path = 'build/o.txt'\n\n\npipeline = p()\n",
    )
    r = repo.pipe("run", "-f", "build.py")
    assert r.code == 0 and repo.read("build/o.txt") == "score 4 v1\n", str(r)
    assert "not in its code" not in r.err, str(r)
    repo.write("lib/steps/score/conf.txt", "v2\n")  # (its own file: in its key, so the step reruns)
    assert "1 ran" in repo.pipe("run", "-f", "build.py", check=True).err and repo.read("build/o.txt") == "score 4 v2\n"
    exported = repo.pipe("export", "build.py", check=True).out
    assert "python lib/steps/score/score.py ${{inputs.n}} lib/steps/score/conf.txt ${{outputs.o}}" in exported
    assert "-m json.tool /dev/null" in exported  # (a module is no file of the folder)


STEPS_V = """\
from pipefile import dsl

make = dsl.command(name="make", command="echo VERSION > ${{outputs.o}}", outputs={"o": dsl.Output(type="uri_file")})
"""
BUILD_V = """\
from steps import make

from pipefile import dsl


@dsl.pipeline(name="p")
def p():
    m = make()
    m.outputs.o.path = "build/o.txt"


pipeline = p()
"""


def test_a_clone_of_an_old_python_pipeline_job_says_it_cannot_run_what_the_job_ran(repo: Repo, tmp_path):
    # A job keeps build.py, not the modules it imports: a clone of job 1, made after steps.py
    # changed, ran job 2's command under job 1's name, without a word. Now the clone says which
    # step would run what; a clone of a job whose modules are unchanged says nothing.
    repo.write("steps.py", STEPS_V.replace("VERSION", "v1"))
    repo.write("build.py", BUILD_V)
    repo.pipe("run", "-f", "build.py", check=True)
    repo.write("steps.py", STEPS_V.replace("VERSION", "v2"))
    repo.pipe("run", "-f", "build.py", check=True)
    r = repo.pipe("clone", "-f", "build.py", "1", "-o", str(tmp_path / "c1"))
    assert r.code == 0 and "warning: job 1 ran a Python pipeline, whose modules are copied as they are now" in r.err
    assert "'m' ran `echo v1 > build/o.txt`, the clone runs `echo v2 > build/o.txt`" in r.err, str(r)
    assert "The clone cannot run what job 1 ran" in r.err, str(r)
    r = repo.pipe("clone", "-f", "build.py", "2", "-o", str(tmp_path / "c2"))
    assert r.code == 0 and "warning" not in r.err, str(r)


def test_the_designer_draws_an_old_python_pipeline_job_from_its_records_not_todays_modules(repo: Repo, tmp_path):
    # The job page drew the graph built from today's modules whenever its step names matched:
    # job 1's step showed today's command, not the one it ran. Now such a job is drawn from
    # what it recorded (as one whose steps are gone from today's pipeline already was).
    pytest = __import__("pytest")
    pytest.importorskip("httpx")
    from test_ui_server import Ui  # (a real `pipe ui` process)

    repo.write("steps.py", STEPS_V.replace("VERSION", "v1"))
    repo.write("build.py", BUILD_V)
    repo.pipe("run", "-f", "build.py", check=True)
    repo.write("steps.py", STEPS_V.replace("VERSION", "v2"))
    repo.pipe("run", "-f", "build.py", check=True)
    ui = Ui(repo.root, "-f", "build.py")
    try:
        old = ui.get("/api/jobs/1").json()["graph"]["nodes"]
        new = ui.get("/api/jobs/2").json()["graph"]["nodes"]
    finally:
        ui.close()
    assert [n["name"] for n in old] == ["m"] and old[0]["component"] is None, old  # (from the records)
    assert new[0]["component"] == "make", new  # (today's graph: what job 2 ran)
