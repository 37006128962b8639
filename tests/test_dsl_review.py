"""Faults found reviewing the Python DSL (docs/dsl.md), each test failing before its fix."""

from __future__ import annotations

from workspace_repo import Repo

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
