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
