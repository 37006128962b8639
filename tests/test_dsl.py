"""The Python DSL (docs/dsl.md): `pipe run -f build.py` on a pipefile.dsl pipeline, and
`pipe export`, whose Pipefile has the same step keys; bad modules refused at their line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from workspace_repo import Repo

ROOT = Path(__file__).resolve().parent.parent

STEPS = '''\
from pipefile import dsl


@dsl.command_component
def double(data: dsl.Input(type="uri_file"), factor: int = 2, out: dsl.Output(type="uri_file") = None):
    """Repeat each line of the table."""
    rows = open(data).read().splitlines()
    with open(out, "w") as f:
        f.write("\\n".join(rows * factor) + "\\n")
'''

BUILD = """\
from pipefile import dsl
from steps import double

count = dsl.command(
    name="count",
    command="wc -l < ${{inputs.data}} > ${{outputs.n}}",
    inputs={"data": "uri_file"},
    outputs={"n": dsl.Output(type="uri_file")},
)


@dsl.pipeline(name="demo")
def demo(factor: int = 3, data=dsl.Input(type="uri_file", path="data/x.csv")):
    d = double(data=data, factor=factor)
    count(data=d.outputs.out)


pipeline = demo()
"""


@pytest.fixture
def dsl_repo(repo: Repo) -> Repo:
    repo.write("data/x.csv", "a,b\n1,2\n3,4\n")
    repo.write("steps.py", STEPS)
    repo.write("build.py", BUILD)
    return repo


def _lines(repo: Repo, rel: str) -> int:
    return len(repo.read(rel).splitlines())


def test_a_dsl_pipeline_runs_and_its_export_has_the_same_keys(dsl_repo):
    r = dsl_repo
    assert r.outcomes("-f", "build.py") == {"d": "ran", "count": "ran"}
    assert _lines(r, "build/d/out") == 9 and r.read("build/count/n").strip() == "9"
    assert r.pipe("export", "build.py", "-o", "Pipefile").code == 0
    text = r.read("Pipefile")
    assert (
        text.startswith("# Written by `pipe export build.py`") and "python -m pipefile.dsl.run steps.py:double" in text
    )
    assert r.outcomes() == {"d": "fresh", "count": "fresh"}  # the export: nothing runs
    # the other order: a change built by the Pipefile first, then the DSL runs nothing
    assert r.outcomes("-p", "factor=2") == {"d": "ran", "count": "ran"}
    assert r.outcomes("-f", "build.py", "-p", "factor=2") == {"d": "fresh", "count": "fresh"}
    keys = {s["name"]: s["key"] for s in r.pipe("status", "--json", check=True).json["steps"]}
    dsl_keys = {s["name"]: s["key"] for s in r.pipe("status", "--json", "-f", "build.py", check=True).json["steps"]}
    assert keys == dsl_keys and all(keys.values())


def test_editing_a_command_component_reruns_its_step_only(dsl_repo):
    r = dsl_repo
    assert r.outcomes("-f", "build.py") == {"d": "ran", "count": "ran"}
    assert r.outcomes("-f", "build.py") == {"d": "fresh", "count": "fresh"}
    r.write("steps.py", STEPS.replace("rows * factor", "rows * factor + rows[:1]"))
    assert r.outcomes("-f", "build.py") == {"d": "ran", "count": "ran"}
    assert _lines(r, "build/d/out") == 10
    r.write("steps.py", STEPS.replace('"""Repeat', '"""Repeat (a comment changed)'))
    # the module's file is in the key: it runs, and writes what the first run wrote: count's
    # key of then comes back (restored, not run)
    assert r.outcomes("-f", "build.py") == {"d": "ran", "count": "restored"}
    assert r.outcomes("-f", "build.py") == {"d": "fresh", "count": "fresh"}


def test_dsl_params_take_p_and_status_dag_validate_read_the_module(dsl_repo):
    r = dsl_repo
    assert r.outcomes("-f", "build.py", "-p", "factor=5") == {"d": "ran", "count": "ran"}
    assert r.read("build/count/n").strip() == "15"
    assert r.states("-f", "build.py", "-p", "factor=5") == {"d": "fresh", "count": "fresh"}
    assert r.states("-f", "build.py") == {"d": "run", "count": "pending"}
    v = r.pipe("validate", "-f", "build.py")
    assert v.code == 0 and "2 steps" in v.out + v.err, str(v)
    dag = r.pipe("dag", "-f", "build.py")
    assert dag.code == 0 and "count" in dag.out, str(dag)
    bad = r.pipe("run", "-f", "build.py", "-p", "factor=abc")
    assert bad.code == 2 and "build.py:12" in bad.err and "factor" in bad.err, str(bad)


def test_an_object_other_than_pipeline_is_named_after_a_colon(dsl_repo):
    r = dsl_repo
    r.write("build.py", BUILD.replace("pipeline = demo()", "small = demo(factor=1)\nbig = demo(factor=4)"))
    none = r.pipe("run", "-f", "build.py")
    assert none.code == 2 and "defines no `pipeline`" in none.err and "build.py:small" in none.err, str(none)
    assert r.outcomes("-f", "build.py:big") == {"d": "ran", "count": "ran"}
    assert r.read("build/count/n").strip() == "12"
    assert r.outcomes("-f", "build.py:small") == {"d": "ran", "count": "ran"}
    assert r.read("build/count/n").strip() == "3"


def test_load_component_std_and_a_pipefile_component_and_a_matrix(repo):
    pytest.importorskip("pyarrow")
    pytest.importorskip("sklearn")
    repo.write("data/t.csv", "x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(40)))
    repo.write(
        "components/Pipefile",
        """\
        components:
          rows:
            inputs: {table: uri_file, scale: {type: integer, default: 1}}
            outputs: {n: uri_file}
            code: [count.py]
            command: python components/count.py ${{inputs.table}} ${{inputs.scale}} ${{outputs.n}}
        steps:
          unused: {command: "true"}
        """,
    )
    repo.write(
        "components/count.py",
        "import sys\nimport pandas as pd\n"
        "open(sys.argv[3], 'w').write(str(len(pd.read_parquet(sys.argv[1])) * int(sys.argv[2])))\n",
    )
    repo.write(
        "build.py",
        """\
        from pipefile import dsl

        split = dsl.load_component("std/split_data@1")
        rows = dsl.load_component("./components/Pipefile:rows")


        @dsl.pipeline
        def splits(fraction: float = 0.75):
            s = split(data=dsl.Input(type="uri_file", path="data/t.csv"), fraction=fraction, seed=3)
            n = rows(table=s.outputs.train).matrix(scale=[1, 10])


        pipeline = splits()
        """,
    )
    got = repo.outcomes("-f", "build.py")
    assert got == {"s": "ran", "n[scale=1]": "ran", "n[scale=10]": "ran"}, got
    assert repo.read("build/n/n/scale=1") == "30" and repo.read("build/n/n/scale=10") == "300"
    assert repo.pipe("export", "build.py", "-o", "Pipefile").code == 0
    assert "component: std/split_data@1" in repo.read("Pipefile") and "matrix:" in repo.read("Pipefile")
    assert set(repo.outcomes().values()) == {"fresh"}


BAD = [
    # (what the module's pipeline body says, the line the error names, words of the message)
    ("    d = double(data=data, factr=2)\n", 14, ["no input 'factr'", "did you mean 'factor'"]),
    ("    d = double(data=data, factor='many')\n", 14, ["input 'factor'", "an integer", "'many'"]),
    ("    d = double(data=data)\n    count(data=d.outputs.result)\n", 15, ["has no output 'result'", "'out'"]),
    ("    d = double(factor=2)\n", 14, ["required input 'data'"]),
    ("    d = double(data=data).matrix(speed=[1, 2])\n", 14, ["'speed' is not an input", "double"]),
]


@pytest.mark.parametrize(
    "body,line,words", BAD, ids=["unknown-input", "wrong-type", "unknown-output", "unbound", "axis"]
)
def test_bad_calls_are_refused_at_their_python_line(dsl_repo, body, line, words):
    r = dsl_repo
    head = BUILD.split("    d = double")[0]
    r.write("build.py", head + body + "\n\npipeline = demo()\n")
    got = r.pipe("validate", "-f", "build.py")
    assert got.code == 2, str(got)
    assert f"build.py:{line}" in got.err and all(w in got.err for w in words), str(got)


def test_a_module_that_fails_to_import_is_shown_at_its_last_frame(dsl_repo):
    r = dsl_repo
    r.write("build.py", "from pipefile import dsl\nimport no_such_module_here\n")
    got = r.pipe("run", "-f", "build.py")
    assert got.code == 2 and "build.py:2" in got.err and "No module named 'no_such_module_here'" in got.err, str(got)
    r.write("helper.py", "def f():\n    return 1 / 0\n")
    r.write("build.py", "import helper\n\nhelper.f()\n")
    got = r.pipe("status", "-f", "build.py")
    assert got.code == 2 and "helper.py:2" in got.err and "ZeroDivisionError" in got.err, str(got)


def test_a_module_without_a_pipeline_names_what_it_defines(repo):
    repo.write("build.py", "from pipefile import dsl\nthing = 3\n")
    got = repo.pipe("validate", "-f", "build.py")
    assert got.code == 2 and "defines no `pipeline`" in got.err and "thing" in got.err, str(got)
    got = repo.pipe("export", "build.py")
    assert got.code == 2 and "defines no `pipeline`" in got.err, str(got)


def test_a_loader_error_points_at_the_python_call(dsl_repo):
    r = dsl_repo
    # two steps writing one path: the graph's error is placed at the line that set the second
    # step's path (the first step's: its call)
    body = "    a = double(data=data)\n    b = double(data=data)\n    b.outputs.out = 'build/a/out'\n"
    r.write("build.py", BUILD.split("    d = double")[0] + body + "\n\npipeline = demo()\n")
    got = r.pipe("validate", "-f", "build.py")
    assert got.code == 2 and "produced by two steps" in got.err, str(got)
    assert got.err.startswith("build.py:16:") and "'a' (build.py:14)" in got.err, str(got)


def test_the_dsl_wine_example_runs_and_matches_its_export(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("pyarrow")
    dest = tmp_path / "dsl-wine"
    shutil.copytree(ROOT / "examples/dsl-wine", dest, ignore=shutil.ignore_patterns(".pipe", "build", "Pipefile"))
    ex = Repo(dest)
    first = ex.outcomes("-f", "build.py")
    assert first == dict.fromkeys(["data", "features", "parts", "fit", "scored", "report"], "ran"), first
    assert json.loads(ex.read("build/metrics.json"))["accuracy"] > 0.8
    assert ex.pipe("export", "build.py", "-o", "Pipefile").code == 0
    assert set(ex.outcomes().values()) == {"fresh"}
    changed = ex.outcomes("-f", "build.py", "-p", "model=random_forest_classifier")
    assert changed["parts"] == "fresh" and changed["fit"] == "ran", changed
    tasks = ex.pipe("status", "--json", "--tasks", "-f", "build.py:compare", check=True).json["steps"]
    assert {"train_model[model=logistic_regression]", "train_model[model=random_forest_classifier]"} <= {
        s["name"] for s in tasks
    }, tasks


def test_sweep_and_foreach_through_the_dsl(repo):
    repo.write("data/items/a.txt", "aa\n")
    repo.write("data/items/b.txt", "bbbb\n")
    repo.write(
        "steps.py",
        """\
        import json

        from pipefile import dsl


        @dsl.command_component(metrics="metrics")
        def trial(lr: float, deep: bool = False, metrics: dsl.Output(type="uri_file") = None):
            json.dump({"score": -abs(lr - 0.1) + (0.5 if deep else 0)}, open(metrics, "w"))


        @dsl.command_component
        def size(item: dsl.Input(type="uri_file"), out: dsl.Output(type="uri_file")):
            open(out, "w").write(str(len(open(item).read())))
        """,
    )
    repo.write(
        "build.py",
        """\
        from pipefile import dsl
        from steps import size, trial

        keep = dsl.command(
            name="keep",
            command="cp ${{inputs.m}} ${{outputs.best}}",
            inputs={"m": dsl.Input(type="uri_file")},
            outputs={"best": "uri_file"},
        )


        @dsl.pipeline
        def search(deep: bool = True):
            t = trial(deep=deep).sweep(
                lr=dsl.choice(0.01, 0.1, 1.0), search="grid", objective=("score", "maximize")
            )
            keep(m=t.best.outputs.metrics)
            size(item=dsl.Input(type="uri_folder", path="data/items")).foreach("item")


        pipeline = search()
        """,
    )
    got = repo.outcomes("-f", "build.py")
    assert {"t[trial-1]", "t[trial-2]", "t[trial-3]", "t.best", "keep", "size[a.txt]", "size[b.txt]"} <= set(got), got
    assert json.loads(repo.read("build/keep/best")) == {"score": 0.5}  # lr=0.1, deep
    assert repo.read("build/size/out/b.txt") == "5"
    repo.write("data/items/c.txt", "c\n")
    again = repo.outcomes("-f", "build.py")
    assert [k for k, v in again.items() if v == "ran"] == ["size[c.txt]"], again
    assert repo.pipe("export", "build.py", "-o", "Pipefile").code == 0
    assert set(repo.outcomes().values()) == {"fresh"}


def test_a_pipeline_argument_of_the_wrong_type_is_refused_where_it_is_given(dsl_repo):
    r = dsl_repo
    r.write("build.py", BUILD.replace("pipeline = demo()", "pipeline = demo(factor=2.5)"))
    got = r.pipe("validate", "-f", "build.py")
    assert got.code == 2 and "build.py:18" in got.err and "param 'factor' is an integer, not 2.5" in got.err, str(got)
    r.write("build.py", BUILD.replace("pipeline = demo()", "pipeline = demo(fctor=2)"))
    got = r.pipe("validate", "-f", "build.py")
    assert got.code == 2 and "build.py:18" in got.err and "did you mean 'factor'" in got.err, str(got)


def test_a_pipeline_function_that_raises_or_holds_an_odd_value_is_located(dsl_repo):
    r = dsl_repo
    head = BUILD.split("    d = double")[0]
    # not called by the module: pipe calls it, and what it raises is placed at its line
    r.write("build.py", head + "    d = double(data=data)\n    {}['missing']\n\n\npipeline = demo\n")
    got = r.pipe("run", "-f", "build.py")
    assert got.code == 2 and "build.py:15" in got.err and "KeyError" in got.err, str(got)
    # a sweep space holding something YAML cannot write: at the .sweep() line, not a crash
    r.write(
        "build.py", head + "    d = double(data=data).sweep(factor={'choice': [object()]})\n\n\npipeline = demo()\n"
    )
    got = r.pipe("validate", "-f", "build.py")
    assert got.code == 2 and "build.py:14" in got.err and "cannot hold" in got.err, str(got)


def test_load_component_from_a_yaml_file_rebases_its_code_and_names_clash(repo):
    repo.write("data/in.txt", "hello\n")
    repo.write("parts/upper.py", "import sys\nopen(sys.argv[2], 'w').write(open(sys.argv[1]).read().upper())\n")
    repo.write(
        "parts/upper.yaml",
        """\
        name: upper
        version: 1.0.0
        inputs: {text: uri_file}
        outputs: {out: uri_file}
        code: [upper.py]
        command: python parts/upper.py ${{inputs.text}} ${{outputs.out}}
        """,
    )
    build = """\
        from pipefile import dsl

        upper = dsl.load_component("parts/upper.yaml")
        other = dsl.command(name="upper", command="true", inputs={"text": "uri_file"})


        @dsl.pipeline
        def shout():
            u = upper(text="data/in.txt")
            # CLASH


        pipeline = shout()
        """
    repo.write("build.py", build)
    assert repo.outcomes("-f", "build.py") == {"u": "ran"}
    assert repo.read("build/u/out") == "HELLO\n"
    repo.write("parts/upper.py", "import sys\nopen(sys.argv[2], 'w').write(open(sys.argv[1]).read().title())\n")
    assert repo.outcomes("-f", "build.py") == {"u": "ran"}  # its code, rebased to parts/upper.py, is in the key
    repo.write("build.py", build.replace("# CLASH", "other(text=u.outputs.out)"))
    got = repo.pipe("validate", "-f", "build.py")
    assert got.code == 2 and "two different components are named 'upper'" in got.err and "build.py:4" in got.err, str(
        got
    )


def test_environments_declared_on_a_component_or_the_pipeline(repo):
    repo.write(
        "build.py",
        """\
        from pipefile import dsl

        hi = dsl.command(
            name="hi",
            command="echo $GREETING > ${{outputs.o}}",
            outputs={"o": "uri_file"},
            environment={"type": "local", "env": {"GREETING": "hello"}},
        )
        bye = dsl.command(name="bye", command="echo $GREETING > ${{outputs.o}}", outputs={"o": "uri_file"}, environment="shared")


        @dsl.pipeline(environments={"shared": {"type": "local", "env": {"GREETING": "bye"}}})
        def env_demo():
            hi()
            bye()


        pipeline = env_demo()
        """,
    )
    assert repo.outcomes("-f", "build.py") == {"hi": "ran", "bye": "ran"}
    assert repo.read("build/hi/o") == "hello\n" and repo.read("build/bye/o") == "bye\n"
    text = repo.pipe("export", "build.py", check=True).out
    assert "environments:" in text and "shared:" in text and "environment: hi" in text


FEATURES = """\
import os
import json
from pipefile import dsl
import helpers
from pkg.sub import tool


@dsl.command_component
def feat(data: dsl.Input(type="uri_file"), out: dsl.Output(type="uri_file") = None):
    from lazy import late  # (an import inside the function: it runs only in the step)

    rows = open(data).read().splitlines()
    with open(out, "w") as f:
        f.write("\\n".join(helpers.mark(tool.shout(late(r))) for r in rows) + "\\n")
"""

IMPORTING_BUILD = """\
from pipefile import dsl
from features import feat


@dsl.pipeline(name="imports")
def imports(data=dsl.Input(type="uri_file", path="data/x.csv")):
    feat(data=data)


pipeline = imports()
"""


def test_the_workspace_modules_a_command_component_imports_are_in_its_key(repo):
    """An edit of a helper the component's module imports (directly, through a package, or
    from inside the function) reruns its step: before, only the module's own file was in the
    key and the step stayed fresh on the old output."""
    r = repo
    r.write("data/x.csv", "a\nb\n")
    r.write("features.py", FEATURES)
    r.write("helpers.py", "from util import star\n\n\ndef mark(s):\n    return star(s) + '!'\n")
    r.write("util.py", "def star(s):\n    return '*' + s\n")
    r.write("pkg/__init__.py", "")
    r.write("pkg/sub/__init__.py", "")
    r.write("pkg/sub/tool.py", "def shout(s):\n    return s.upper()\n")
    r.write("lazy.py", "def late(s):\n    return s + s\n")
    r.write("unrelated.py", "X = 1\n")
    r.write("build.py", IMPORTING_BUILD)
    assert r.outcomes("-f", "build.py") == {"feat": "ran"}
    assert r.read("build/feat/out") == "*AA!\n*BB!\n"
    exported = r.pipe("export", "build.py", check=True).out
    for path in ("helpers.py", "util.py", "pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/tool.py", "lazy.py"):
        assert path in exported, path
    assert "unrelated.py" not in exported and "json" not in exported.split("code:")[1].split("command:")[0]
    edits = {
        "util.py": "def star(s):\n    return '+' + s\n",  # imported by a helper, not by the module
        "pkg/sub/tool.py": "def shout(s):\n    return s.lower()\n",
        "lazy.py": "def late(s):\n    return s\n",  # imported inside the function only
        "pkg/__init__.py": "# a package's __init__ runs on the way\n",
    }
    expected = ["+AA!\n+BB!\n", "+aa!\n+bb!\n", "+a!\n+b!\n", "+a!\n+b!\n"]
    for (path, text), out in zip(edits.items(), expected):
        r.write(path, text)
        assert r.outcomes("-f", "build.py") == {"feat": "ran"}, path
        assert r.read("build/feat/out") == out, path
    r.write("unrelated.py", "X = 2\n")
    assert r.outcomes("-f", "build.py") == {"feat": "fresh"}


def test_a_packaged_component_module_keys_its_relative_imports_and_package(repo):
    r = repo
    r.write("data/x.csv", "a\n")
    r.write("lib/__init__.py", "")
    r.write("lib/util.py", "def twice(s):\n    return s * 2\n")
    r.write(
        "lib/steps.py",
        "from pipefile import dsl\nfrom .util import twice\nfrom . import extra\n\n\n"
        "@dsl.command_component\n"
        "def tw(data: dsl.Input(type='uri_file'), out: dsl.Output(type='uri_file') = None):\n"
        "    open(out, 'w').write(twice(open(data).read()) + extra.TAIL)\n",
    )
    r.write("lib/extra.py", "TAIL = '.'\n")
    r.write(
        "build.py",
        "from pipefile import dsl\nfrom lib.steps import tw\n\n\n@dsl.pipeline(name='p')\n"
        "def p(data=dsl.Input(type='uri_file', path='data/x.csv')):\n    tw(data=data)\n\n\npipeline = p()\n",
    )
    assert r.outcomes("-f", "build.py") == {"tw": "ran"}
    assert r.read("build/tw/out") == "a\na\n."
    r.write("lib/extra.py", "TAIL = '!'\n")
    assert r.outcomes("-f", "build.py") == {"tw": "ran"}
    r.write("lib/util.py", "def twice(s):\n    return s * 3\n")
    assert r.outcomes("-f", "build.py") == {"tw": "ran"}
    assert r.read("build/tw/out") == "a\na\na\n!"
    assert r.outcomes("-f", "build.py") == {"tw": "fresh"}
