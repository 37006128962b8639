"""Pipelines as components in the DSL (docs/dsl.md#pipelines-as-components): a @dsl.pipeline
function called inside another one is a `type: pipeline` component, one step of the caller."""

from __future__ import annotations

from workspace_repo import Repo

BUILD = """\
from pipefile import dsl

upper = dsl.command(
    name="upper",
    command="tr a-z A-Z < ${{inputs.data}} > ${{outputs.out}} && echo ${{inputs.n}} >> ${{outputs.out}}",
    inputs={"data": "uri_file", "n": dsl.Input(type="integer", default=1)},
    outputs={"out": dsl.Output(type="uri_file")},
)


@dsl.pipeline(name="twice")
def twice(data: dsl.Input(type="uri_file"), n: int = 2):
    first = upper(data=data, n=n)
    second = upper(data=first.outputs.out)
    return {"result": second.outputs.out}


@dsl.pipeline(name="outer")
def outer(n: int = 5, d=dsl.Input(type="uri_file", path="data/a.txt")):
    a = twice(data=d)
    b = twice(data=d)
    c = twice(data=a.outputs.result, n=n)
    a.outputs.result.path = "build/a.txt"


pipeline = outer()
"""


def test_a_pipeline_called_in_a_pipeline_is_a_pipeline_component(repo: Repo):
    repo.write("data/a.txt", "abc\n")
    repo.write("build.py", BUILD)
    got = repo.outcomes("-f", "build.py")
    assert set(got) == {"a/first", "a/second", "b/first", "b/second", "c/first", "c/second"}, got
    # the same pipeline with the same inputs: its inner steps share keys, one runs, one is restored
    assert sorted(got[n] for n in ("a/first", "b/first")) == ["ran", "restored"], got
    assert repo.read("build/a.txt") == "ABC\n2\n1\n"
    assert repo.read("build/c/result") == "ABC\n2\n1\n5\n1\n"  # c's n=5 reached its inner step
    st = repo.pipe("status", "-f", "build.py", check=True).out
    assert "a  2 steps: 2 fresh" in st, st
    # the export is the same pipeline: the same keys, nothing runs
    assert repo.pipe("export", "build.py", "-o", "Pipefile").code == 0
    text = repo.read("Pipefile")
    assert "type: pipeline" in text and "${{parent.inputs.data}}" in text and "${{parent.outputs.result}}" in text
    assert set(repo.outcomes().values()) == {"fresh"}
    assert repo.outcomes("-f", "build.py", "-p", "n=6") == {
        "a/first": "fresh",
        "a/second": "fresh",
        "b/first": "fresh",
        "b/second": "fresh",
        "c/first": "ran",
        "c/second": "ran",
    }


def test_pipeline_components_nest_and_their_inner_steps_may_expand(repo: Repo):
    repo.write("data/a.txt", "abc\n")
    body = BUILD.split('@dsl.pipeline(name="outer")')[0]
    repo.write(
        "build.py",
        body
        + """\
@dsl.pipeline(name="mid")
def mid(data: dsl.Input(type="uri_file")):
    t = twice(data=data, n=3)
    m = upper(data=t.outputs.result).matrix(n=[7, 8])
    return {"out": t.outputs.result}


@dsl.pipeline(name="top")
def top(d=dsl.Input(type="uri_file", path="data/a.txt")):
    x = mid(data=d)


pipeline = top()
""",
    )
    got = repo.outcomes("-f", "build.py")
    assert got == {"x/t/first": "ran", "x/t/second": "ran", "x/m[n=7]": "ran", "x/m[n=8]": "ran"}, got
    assert repo.read("build/x/out") == "ABC\n3\n1\n"


def test_a_pipeline_component_used_wrongly_is_located_in_python(repo: Repo):
    repo.write("data/a.txt", "abc\n")
    head = BUILD.split('@dsl.pipeline(name="outer")')[0]
    outer = '@dsl.pipeline(name="outer")\ndef outer(d=dsl.Input(type="uri_file", path="data/a.txt")):\n'
    line = head.count("\n") + 3  # the call in outer's body
    cases = [
        ("    a = twice(data=d, m=3)\n", f"build.py:{line}", ["pipeline 'twice' has no parameter 'm'"]),
        ("    a = twice()\n", f"build.py:{line}", ["does not give required input 'data'"]),
        ("    a = twice(data=d, n='x')\n", f"build.py:{line}", ["input 'n'", "'x'"]),
    ]
    for call, where, words in cases:
        repo.write("build.py", head + outer + call + "\n\npipeline = outer()\n")
        got = repo.pipe("validate", "-f", "build.py")
        assert got.code == 2 and where in got.err and all(w in got.err for w in words), (call, str(got))
    # what it returns must be a dict of its own steps' outputs: the error is at its def
    bad = head.replace('return {"result": second.outputs.out}', "return second.outputs.out")
    repo.write("build.py", bad + outer + "    a = twice(data=d)\n\npipeline = outer()\n")
    got = repo.pipe("validate", "-f", "build.py")
    assert got.code == 2 and "returns NodeOutput" in got.err and "return a dict" in got.err, str(got)
    deco = head[: head.index('@dsl.pipeline(name="twice")')].count("\n") + 1  # (its def's place)
    assert f"build.py:{deco}:" in got.err, str(got)
