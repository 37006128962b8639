"""Pipelines as components (issue 15): `type: pipeline` components and other Pipefiles used as
steps, flattened into ordinary tasks `STEP/INNER`, end to end through the real `pipe`.

What must hold: inner steps are tasks (targets, status, logs); inner outputs without a
caller's path live under .pipe/nested; the same pipeline used twice with the same inputs
gives its inner steps the same keys (one runs, the other restores, in one job or later);
editing an inner script reruns only that inner step and what reads it; `pipe dag` collapses
or expands pipeline steps; `pipe status` groups them. Bad input is located, with a fix.
"""

from __future__ import annotations

import json
import shutil

import pytest

TRAIN = """\
    components:
      train:
        type: pipeline
        inputs:
          data: uri_file
          lr: {type: number, default: 0.1}
        outputs:
          model: uri_file
        steps:
          prep:
            command: python prep.py ${{inputs.raw}} ${{outputs.clean}}
            code: [prep.py]
            inputs: {raw: "${{parent.inputs.data}}"}
            outputs: {clean: }
          fit:
            command: python fit.py ${{inputs.clean}} ${{inputs.lr}} ${{outputs.model}}
            code: [fit.py]
            inputs:
              clean: ${{steps.prep.outputs.clean}}
              lr: ${{parent.inputs.lr}}
            outputs: {model: "${{parent.outputs.model}}"}
          check:
            command: wc -c < ${{inputs.clean}} > ${{outputs.size}}
            inputs: {clean: "${{steps.prep.outputs.clean}}"}
            outputs: {size: }
    steps:
      first:
        component: train
        inputs: {data: data/a.csv}
        outputs: {model: build/first.txt}
      second:
        component: train
        inputs: {data: data/a.csv}
        outputs: {model: build/second.txt}
      report:
        command: cat ${{inputs.one}} ${{inputs.two}} > ${{outputs.out}}
        inputs:
          one: ${{steps.first.outputs.model}}
          two: ${{steps.second.outputs.model}}
        outputs: {out: build/report.txt}
"""

PREP = "import sys\nopen(sys.argv[2], 'w').write(open(sys.argv[1]).read().upper())\n"
FIT = "import sys\nopen(sys.argv[3], 'w').write(f'lr={sys.argv[2]} ' + open(sys.argv[1]).read())\n"


@pytest.fixture
def train(repo):
    repo.write("data/a.csv", "x,y\n")
    repo.write("prep.py", PREP)
    repo.write("fit.py", FIT)
    repo.pipefile(TRAIN)
    return repo


def test_a_pipeline_used_twice_names_its_inner_steps_and_shares_their_keys(train):
    out = train.outcomes()
    inner = {"prep", "fit", "check"}
    assert set(out) == {f"{s}/{i}" for s in ("first", "second") for i in inner} | {"report"}
    # one job: each inner task of one key runs once; its twin waits and restores
    for i in inner:
        assert sorted([out[f"first/{i}"], out[f"second/{i}"]]) == ["ran", "restored"], out
    keys = {s["name"]: s["key"] for s in train.pipe("status", "--json", check=True).json["steps"]}
    for i in inner:
        assert keys[f"first/{i}"] == keys[f"second/{i}"]
    assert train.read("build/first.txt") == train.read("build/second.txt") == "lr=0.1 X,Y\n"
    assert train.read("build/report.txt") == "lr=0.1 X,Y\nlr=0.1 X,Y\n"
    # inner outputs no caller placed live in pipe's own folder, one per use
    assert train.read(".pipe/nested/first/prep/clean") == "X,Y\n"
    assert train.exists(".pipe/nested/second/check/size")
    assert set(train.outcomes().values()) == {"fresh"}


def test_a_second_use_added_later_restores_every_inner_step(train):
    train.pipefile(TRAIN.split("      second:")[0])
    train.write("Pipefile", train.read("Pipefile"), dedent=False)
    out = train.outcomes()
    assert {n for n, o in out.items() if o == "ran"} == {"first/prep", "first/fit", "first/check"}
    train.pipefile(TRAIN)
    out = train.outcomes()
    assert {n: o for n, o in out.items() if n.startswith("second/")} == {
        "second/prep": "restored",
        "second/fit": "restored",
        "second/check": "restored",
    }


def test_different_inputs_give_different_keys(train):
    train.pipefile(
        TRAIN.replace(
            "inputs: {data: data/a.csv}\n        outputs: {model: build/second.txt}",
            "inputs: {data: data/a.csv, lr: 0.5}\n        outputs: {model: build/second.txt}",
        )
    )
    out = train.outcomes()
    # prep and check read the same data: shared; fit has another lr: both run
    assert out["first/fit"] == out["second/fit"] == "ran"
    assert sorted([out["first/prep"], out["second/prep"]]) == ["ran", "restored"]
    assert train.read("build/second.txt") == "lr=0.5 X,Y\n"


def test_editing_an_inner_script_reruns_that_step_and_its_readers_only(train):
    train.outcomes()
    train.write("fit.py", FIT.replace("lr=", "rate="))
    out = train.outcomes()
    assert {n for n, o in out.items() if o != "fresh"} == {"first/fit", "second/fit", "report"}, out
    assert sorted([out["first/fit"], out["second/fit"]]) == ["ran", "restored"]
    assert train.read("build/report.txt") == "rate=0.1 X,Y\n" * 2
    # a comment only: the inner step runs, writes the same bytes, and nothing after it runs
    train.write("fit.py", FIT.replace("lr=", "rate=") + "# a comment\n")
    out = train.outcomes()
    assert {n for n, o in out.items() if o != "fresh"} == {"first/fit"}, out


def test_inner_steps_are_tasks_targets_and_logs(train):
    out = train.outcomes("second/fit")
    assert set(out) == {"second/prep", "second/fit"}
    out = train.outcomes("first")  # the pipeline step: all its inner steps
    assert {n for n in out if n.startswith("first/")} == {"first/prep", "first/fit", "first/check"}
    assert "report" not in out
    job = train.pipe("jobs", "--json", check=True).json
    last = job[0]["id"] if isinstance(job, list) else job["jobs"][0]["id"]
    log = train.pipe("logs", str(last), "first/prep")
    assert log.code == 0, str(log)


def test_status_groups_a_pipeline_steps_inner_steps(train):
    st = train.pipe("status", check=True).out
    assert any(
        line.split()[:2] == ["run", "first"] and "3 steps: 2 pending, 1 run" in line for line in st.splitlines()
    ), st
    assert "first/prep" not in st
    tasks = train.pipe("status", "--tasks", check=True).out
    assert "first/prep" in tasks and "second/check" in tasks
    doc = train.pipe("status", "--json", check=True).json
    groups = {g["name"]: g for g in doc["groups"]}
    assert groups["first"]["kind"] == "pipeline" and groups["first"]["tasks"] == 3
    train.outcomes()
    st = train.pipe("status", check=True).out
    assert "3 steps: 3 fresh" in st


def test_dag_collapsed_and_expanded(train):
    text = train.pipe("dag", check=True).out
    assert "first [pipeline: 3 steps] <- data/a.csv, prep.py, fit.py" in text
    assert "report <- first, second" in text
    assert "first/prep" not in text
    expanded = train.pipe("dag", "--expand", check=True).out.splitlines()
    assert "first [pipeline: 3 steps]" in expanded
    assert "  first/fit <- first/prep, fit.py" in expanded
    assert "report <- first/fit, second/fit" in expanded
    mermaid = train.pipe("dag", "--format", "mermaid", "--expand", check=True).out
    assert 'subgraph p0["first [pipeline]"]' in mermaid and "  end" in mermaid
    assert '["first/prep"]' in mermaid
    collapsed = train.pipe("dag", "--format", "mermaid", check=True).out
    assert '["first [pipeline: 3 steps]"]' in collapsed and "subgraph" not in collapsed
    dot = train.pipe("dag", "--format", "dot", "--expand", check=True).out
    assert 'subgraph "cluster_first" {' in dot and '"first/prep";' in dot


NESTED = """\
    components:
      inner:
        type: pipeline
        inputs: {d: uri_file}
        outputs: {m: uri_file}
        steps:
          up:
            command: tr a-z A-Z < ${{inputs.i}} > ${{outputs.o}}
            inputs: {i: "${{parent.inputs.d}}"}
            outputs: {o: "${{parent.outputs.m}}"}
      outer:
        type: pipeline
        inputs: {d: uri_file}
        outputs: {m: uri_file}
        steps:
          first:
            command: rev < ${{inputs.i}} > ${{outputs.o}}
            inputs: {i: "${{parent.inputs.d}}"}
            outputs: {o: }
          sub:
            component: inner
            inputs: {d: "${{steps.first.outputs.o}}"}
            outputs: {m: "${{parent.outputs.m}}"}
    steps:
      top:
        component: outer
        inputs: {d: data/a.txt}
        outputs: {m: build/m.txt}
      after:
        command: cat ${{inputs.m}} > ${{outputs.o}}
        inputs: {m: "${{steps.top.outputs.m}}"}
        outputs: {o: build/after.txt}
"""


def test_nested_two_deep(repo):
    repo.write("data/a.txt", "abc\n")
    repo.pipefile(NESTED)
    out = repo.outcomes()
    assert out == {"top/first": "ran", "top/sub/up": "ran", "after": "ran"}
    assert repo.read("build/m.txt") == "CBA\n" == repo.read("build/after.txt")
    st = repo.pipe("status", check=True).out
    assert "top     2 steps: 2 fresh" in st or "2 steps: 2 fresh" in st
    text = repo.pipe("dag", "--expand", check=True).out.splitlines()
    assert text[:4] == [
        "top [pipeline: 2 steps]",
        "  top/first <- data/a.txt",
        "      -> .pipe/nested/top/first/o",
        "  top/sub [pipeline: 1 step]",
    ]
    assert "    top/sub/up <- top/first" in text
    assert repo.outcomes("top/sub") == {"top/first": "fresh", "top/sub/up": "fresh"}


CHILD = """\
    params:
      lr: 0.5
    assets:
      raw: {path: data/in.csv, input: true}
    steps:
      prep:
        command: python prep.py ${{inputs.raw}} ${{outputs.clean}}
        inputs: {raw: "${{assets.raw}}"}
        outputs: {clean: build/clean.csv}
        code: [prep.py]
      fit:
        command: echo "lr=${{params.lr}}" | cat - ${{inputs.clean}} > ${{outputs.model}}
        inputs: {clean: build/clean.csv}
        outputs: {model: {path: build/model.txt, output: true}}
"""


def test_a_pipefile_used_as_a_component(repo):
    repo.write("train/Pipefile", CHILD)
    repo.write("train/prep.py", PREP)
    repo.write("train/data/in.csv", "own\n")
    repo.write("data/a.csv", "abc\n")
    repo.pipefile(
        """\
        steps:
          mine:
            component: ./train/Pipefile
            inputs: {raw: data/a.csv, lr: 0.1}
            outputs: {model: build/mine.txt}
          theirs:
            component: ./train/Pipefile
            outputs: {model: build/theirs.txt}
        """
    )
    out = repo.outcomes()
    assert set(out) == {"mine/prep", "mine/fit", "theirs/prep", "theirs/fit"}
    assert repo.read("build/mine.txt") == "lr=0.1\nABC\n"
    # an unbound input asset reads the child's own data, its params their defaults
    assert repo.read("build/theirs.txt") == "lr=0.5\nOWN\n"
    assert not repo.exists("train/build")  # its paths are store-only here
    # its code is part of the key: editing it reruns its inner steps, and what reads them
    repo.write("train/prep.py", PREP + "# edited\n")
    out = repo.outcomes()
    assert out["mine/prep"] == "ran" and out["theirs/prep"] == "ran"
    # the Pipefile itself is read again when it changes (the spec cache checks it)
    repo.write("train/Pipefile", CHILD.replace("lr: 0.5", "lr: 0.7"))
    out = repo.outcomes()
    assert out["theirs/fit"] == "ran" and out["mine/fit"] == "fresh"
    assert repo.read("build/theirs.txt") == "lr=0.7\nOWN\n"


BAD = [
    (
        "unknown parent input",
        """\
        components:
          p:
            type: pipeline
            inputs: {data: uri_file}
            outputs: {m: uri_file}
            steps:
              s:
                command: cat ${{inputs.i}} > ${{outputs.o}}
                inputs: {i: "${{parent.inputs.dta}}"}
                outputs: {o: "${{parent.outputs.m}}"}
        steps:
          a: {component: p, inputs: {data: in.txt}}
        """,
        "Pipefile:9:",
        "input 'i' of step 's' binds ${{parent.inputs.dta}}, but pipeline component 'p' has no input 'dta'",
        "did you mean 'data'?",
    ),
    (
        "unknown parent output",
        """\
        components:
          p:
            type: pipeline
            outputs: {m: uri_file}
            steps:
              s:
                command: echo > ${{outputs.o}}
                outputs: {o: "${{parent.outputs.model}}"}
        steps:
          a: {component: p}
        """,
        "Pipefile:8:",
        "but pipeline component 'p' has no output 'model'",
        "known output names: 'm'",
    ),
    (
        "unknown sibling",
        """\
        components:
          p:
            type: pipeline
            steps:
              s:
                command: echo > ${{outputs.o}}
                outputs: {o: }
              t:
                command: cat ${{inputs.i}} > ${{outputs.o}}
                inputs: {i: "${{steps.ss.outputs.o}}"}
                outputs: {o: }
        steps:
          a: {component: p}
        """,
        "Pipefile:10:",
        "input 'i' of step 't' uses step 'ss', which is not defined (inside pipeline component 'p'",
        "did you mean 's'?",
    ),
    (
        "parent output bound to nothing",
        """\
        components:
          p:
            type: pipeline
            outputs: {m: uri_file}
            steps:
              s:
                command: echo > ${{outputs.o}}
                outputs: {o: }
        steps:
          a: {component: p}
        """,
        "Pipefile:4:",
        "output 'm' of pipeline component 'p' is bound to no inner step's output",
        "${{parent.outputs.m}}",
    ),
    (
        "an inner output with a path",
        """\
        components:
          p:
            type: pipeline
            steps:
              s:
                command: echo > ${{outputs.o}}
                outputs: {o: build/o.txt}
        steps:
          a: {component: p}
        """,
        "Pipefile:7:",
        "but inner outputs have none",
        "leave it empty",
    ),
    (
        "missing Pipefile",
        "steps:\n  a: {component: ./nope/Pipefile}\n",
        "Pipefile:2:",
        "step 'a' uses './nope/Pipefile' as a component, but no such file exists",
        "fix the path",
    ),
    (
        "not a Pipefile",
        "steps:\n  a: {component: ./in.txt}\n",
        "Pipefile:2:",
        "step 'a' uses './in.txt', which is not a Pipefile",
        "name a Pipefile",
    ),
    (
        "a folder without a Pipefile",
        "steps:\n  a: {component: ./data}\n",
        "Pipefile:2:",
        "step 'a' uses './data', a folder without a Pipefile",
        "name the file",
    ),
    (
        "recursion",
        """\
        components:
          one:
            type: pipeline
            steps:
              x: {component: two}
          two:
            type: pipeline
            steps:
              y: {component: one}
        steps:
          a: {component: one}
        """,
        "Pipefile:9:",
        "pipeline component 'one' uses itself: one -> two -> one",
        "remove one of these uses",
    ),
    (
        "a Pipefile using itself",
        "steps:\n  a: {component: ./Pipefile}\n",
        "Pipefile:2:",
        "step 'a' uses the Pipefile './Pipefile', which uses this one: Pipefile -> Pipefile",
        "cannot contain itself",
    ),
    (
        "unknown input of the pipeline",
        """\
        components:
          p:
            type: pipeline
            inputs: {data: uri_file}
            steps:
              s: {command: "cat ${{inputs.i}}", inputs: {i: "${{parent.inputs.data}}"}}
        steps:
          a: {component: p, inputs: {dat: in.txt}}
        """,
        "Pipefile:8:",
        "pipeline component 'p' has no input 'dat'",
        "did you mean 'data'?",
    ),
    (
        "a required input left out",
        """\
        components:
          p:
            type: pipeline
            inputs: {data: uri_file}
            steps:
              s: {command: "cat ${{inputs.i}}", inputs: {i: "${{parent.inputs.data}}"}}
        steps:
          a: {component: p}
        """,
        "Pipefile:8:",
        "step 'a' does not connect required input 'data' of pipeline component 'p'",
        "add inputs: {data: ...}",
    ),
    (
        "a pipeline step with a command",
        """\
        components:
          p:
            type: pipeline
            steps:
              s: {command: "echo"}
        steps:
          a: {component: p, command: echo}
        """,
        "Pipefile:7:",
        "step 'a' uses pipeline component 'p' and cannot have 'command'",
        "give 'command' to its inner steps",
    ),
    (
        "an unknown output of a pipeline step read",
        """\
        components:
          p:
            type: pipeline
            outputs: {m: uri_file}
            steps:
              s: {command: "echo > ${{outputs.o}}", outputs: {o: "${{parent.outputs.m}}"}}
        steps:
          a: {component: p}
          b: {command: "cat ${{inputs.i}}", inputs: {i: "${{steps.a.outputs.model}}"}}
        """,
        "Pipefile:9:",
        "step 'b' reads a.outputs.model, but pipeline component 'p' has no output 'model'",
        "known output names: 'm'",
    ),
    (
        "a component type that is not pipeline",
        "components:\n  p: {type: pipelines, steps: {s: {command: echo}}}\nsteps:\n  a: {component: p}\n",
        "Pipefile:2:",
        "component 'p' has type 'pipelines', but the only type a component can say is 'pipeline'",
        "write type: pipeline",
    ),
    (
        "an optional pipeline input used outside $[[ ]]",
        """\
        components:
          p:
            type: pipeline
            inputs: {seed: {type: integer, optional: true}}
            steps:
              s:
                command: echo ${{inputs.seed}}
                inputs: {seed: "${{parent.inputs.seed}}"}
        steps:
          a: {component: p}
        """,
        "Pipefile:7:",
        "input 'seed' of step 's' is bound to optional input 'seed' of pipeline component 'p', which may have no value",
        "wrap it: $[[--seed ${{inputs.seed}}]]",
    ),
    (
        "an optional pipeline input left unset feeding a required component input",
        """\
        components:
          c:
            inputs: {x: integer}
            command: echo ${{inputs.x}}
          p:
            type: pipeline
            inputs: {seed: {type: integer, optional: true}}
            steps:
              s: {component: c, inputs: {x: "${{parent.inputs.seed}}"}}
        steps:
          a: {component: p}
          b: {component: p, inputs: {seed: 2}}
        """,
        "Pipefile:11:",
        "step 'a' leaves input 'seed' of pipeline component 'p' unset, but its step 's' needs it",
        "bind it: inputs: {seed: ...}",
    ),
    (
        "a pipeline output bound twice",
        """\
        components:
          p:
            type: pipeline
            outputs: {m: uri_file}
            steps:
              s: {command: "echo > ${{outputs.o}}", outputs: {o: "${{parent.outputs.m}}"}}
              t: {command: "echo > ${{outputs.o}}", outputs: {o: "${{parent.outputs.m}}"}}
        steps:
          a: {component: p}
        """,
        "Pipefile:7:",
        "output 'm' of pipeline component 'p' is bound twice: by step 's' and by step 't'",
        "one inner output writes each output",
    ),
    (
        "a pipeline output read as an input",
        """\
        components:
          p:
            type: pipeline
            outputs: {m: uri_file}
            steps:
              s: {command: "echo > ${{outputs.o}}", outputs: {o: "${{parent.outputs.m}}"}}
              t: {command: "cat ${{inputs.i}}", inputs: {i: "${{parent.outputs.m}}"}}
        steps:
          a: {component: p}
        """,
        "Pipefile:7:",
        "input 'i' of step 't' reads ${{parent.outputs.m}}, an output of pipeline component 'p'",
        "read the step that writes it",
    ),
    (
        "parent outside a pipeline",
        "steps:\n  a: {command: 'cat ${{inputs.i}}', inputs: {i: '${{parent.inputs.x}}'}}\n",
        "Pipefile:2:",
        "input 'i' of step 'a' cannot refer to ${{parent.inputs.x}}",
        None,
    ),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_is_located_with_a_fix(repo, case):
    _, text, where, message, hint = case
    repo.write("in.txt", "x\n")
    repo.write("data/x.txt", "x\n")
    repo.pipefile(text)
    r = repo.pipe("validate")
    assert r.code == 2, str(r)
    lines = r.err.splitlines()
    hit = [i for i, line in enumerate(lines) if message in line]
    assert hit, str(r)
    assert lines[hit[0]].startswith(where), str(r)
    if hint:
        assert hint in lines[hit[0] + 1], str(r)
    assert "Traceback" not in r.err


def test_errors_inside_a_pipefile_component_are_located_in_it(repo):
    repo.write("train/Pipefile", "steps:\n  s: {command: 'cat ${{inputs.i}}', inputs: {i: '${{assets.nope}}'}}\n")
    repo.pipefile("steps:\n  a: {component: ./train/Pipefile}\n")
    r = repo.pipe("validate")
    assert r.code == 2 and "train/Pipefile:2:" in r.err and "asset 'nope'" in r.err, str(r)


def test_json_of_status_lists_inner_tasks(train):
    doc = json.loads(train.pipe("status", "--json", check=True).out)
    names = [s["name"] for s in doc["steps"]]
    assert names.index("first/prep") < names.index("first/fit") < names.index("report")


GRID = """\
    components:
      grid:
        type: pipeline
        inputs: {folder: uri_folder}
        outputs: {all: uri_folder, sizes: uri_folder}
        steps:
          t:
            matrix: {n: [1, 2]}
            inputs: {n: {type: integer}}
            command: mkdir -p ${{outputs.m}} && echo ${{inputs.n}} > ${{outputs.m}}/v
            outputs: {m: "${{parent.outputs.all}}"}
          each:
            foreach: ${{inputs.f}}
            inputs: {f: "${{parent.inputs.folder}}"}
            command: wc -c < ${{inputs.f}} > ${{outputs.s}}
            outputs: {s: "${{parent.outputs.sizes}}"}
          sum:
            command: ls ${{inputs.g}} > ${{outputs.o}}
            inputs: {g: "${{steps.t.outputs.m}}"}
            outputs: {o: }
    steps:
      g1:
        component: grid
        inputs: {folder: imgs}
        outputs: {all: build/all/, sizes: build/sizes/}
      g2:
        component: grid
        inputs: {folder: imgs}
"""


def test_matrix_and_foreach_inside_a_pipeline_used_twice(repo):
    repo.write("imgs/a.txt", "1\n")
    repo.write("imgs/b.txt", "22\n")
    repo.pipefile(GRID)
    out = repo.outcomes("-j", "1")  # one at a time: the second use's tasks come after the first's ran
    inner = ["t[n=1]", "t[n=2]", "each[a.txt]", "each[b.txt]", "sum"]
    assert set(out) == {f"{g}/{i}" for g in ("g1", "g2") for i in inner}
    for i in inner:
        assert sorted([out[f"g1/{i}"], out[f"g2/{i}"]]) == ["ran", "restored"], (i, out)
    assert repo.read("build/all/n=2/v") == "2\n" and repo.read("build/sizes/b.txt").strip() == "3"
    assert repo.read(".pipe/nested/g2/each/s/a.txt").strip() == "2"
    assert "g1  5 tasks: 5 fresh" in repo.pipe("status", check=True).out
    repo.write("imgs/c.txt", "333\n")  # one more item: one task per use, one runs
    out = repo.outcomes()
    assert {n: o for n, o in out.items() if o != "fresh"} in (
        {"g1/each[c.txt]": "ran", "g2/each[c.txt]": "restored"},
        {"g1/each[c.txt]": "restored", "g2/each[c.txt]": "ran"},
    )


def test_a_pipeline_unused_is_checked_too(repo):
    repo.pipefile(
        """\
        components:
          unused:
            type: pipeline
            steps:
              s: {command: "echo ${{inputs.nope}}"}
        steps:
          a: {command: "echo hi"}
        """
    )
    r = repo.pipe("validate")
    assert r.code == 2 and "Pipefile:5:" in r.err and "no input 'nope'" in r.err, str(r)


def test_logs_of_inner_steps_by_name_and_followed(repo):
    repo.pipefile(
        """\
        components:
          p:
            type: pipeline
            steps:
              say: {command: "echo hello from inside"}
        steps:
          outer: {command: "echo hello from outside"}
          use: {component: p}
        """
    )
    repo.outcomes()
    one = repo.pipe("logs", "1", "use/say", check=True).out
    assert "hello from inside" in one
    followed = repo.pipe("logs", "1", "--follow", check=True, timeout=60).out
    assert "hello from outside" in followed and "hello from inside" in followed, followed


ENV_CHILD = """\
    version: 1
    environments:
      fast: {type: local, env: {MODE: inner}}
      py: {type: venv, requirements: envs/req.txt}
    steps:
      a:
        command: echo "$MODE" > ${{outputs.o}}
        environment: fast
        outputs: {o: {path: build/a.txt, output: true}}
      b:
        command: python -c "import six" > ${{outputs.p}}
        environment: py
        outputs: {p: build/b.txt}
"""


def test_a_pipefile_component_runs_its_steps_in_its_own_environments(repo, tmp_path):
    repo.write("train/Pipefile", ENV_CHILD)
    repo.write("train/envs/req.txt", "six\n")
    repo.pipefile(
        """\
        environments:
          fast: {type: local, env: {MODE: outer}}   # the same name as the child's: no clash
        steps:
          t:
            component: ./train/Pipefile
            outputs: {o: out/t.txt}
          mine:
            command: echo "$MODE" > ${{outputs.o}}
            environment: fast
            outputs: {o: out/mine.txt}
        """
    )
    assert repo.outcomes("t/a", "mine") == {"t/a": "ran", "mine": "ran"}
    assert repo.read("out/t.txt") == "inner\n" and repo.read("out/mine.txt") == "outer\n"

    def envs(r) -> dict:
        got = r.pipe("envs", "--json", check=True).json["environments"]
        return {e["name"]: e for e in got}

    mine = envs(repo)
    assert mine["train/Pipefile:py"]["steps"] == ["t/b"] and mine["fast"]["steps"] == ["mine"]
    assert "-r train/envs/req.txt" in mine["train/Pipefile:py"]["detail"]  # its path, from its folder
    # the same identities as the child Pipefile run on its own (so the same part of the keys)
    from workspace_repo import Repo

    alone = tmp_path / "alone"
    shutil.copytree(repo.root / "train", alone)
    theirs = envs(Repo(alone))
    assert mine["train/Pipefile:fast"]["identity"] == theirs["fast"]["identity"]
    assert mine["train/Pipefile:py"]["identity"] == theirs["py"]["identity"]
    assert mine["fast"]["identity"] != theirs["fast"]["identity"]

    # its environment's files are part of its steps' keys, as on its own
    def keys():
        return {s["name"]: s["key"] for s in repo.pipe("status", "--json").json["steps"]}

    before = keys()
    repo.write("train/envs/req.txt", "six==1.16.0\n")
    after = keys()
    assert after["t/b"] != before["t/b"] and after["t/a"] == before["t/a"] and after["mine"] == before["mine"]


SUB = """\
    version: 1
    environments:
      fast: {type: local, env: {MODE: MODE_VALUE}}
    steps:
      a:
        command: cat data/x.txt > ${{outputs.o}} && echo "$MODE" >> ${{outputs.o}}
        environment: fast
        outputs: {o: {path: build/a.txt, output: true}}
"""


def test_a_pipefile_component_inside_a_pipefile_component_runs_in_its_folder_and_environments(repo):
    # mid/Pipefile uses mid/sub/Pipefile; the top uses mid/Pipefile and another sub/Pipefile:
    # each level's paths and environments are placed once, from the folder of the one using it.
    repo.write("mid/sub/Pipefile", SUB.replace("MODE_VALUE", "deep"))
    repo.write("mid/sub/data/x.txt", "deep data\n")
    repo.write("sub/Pipefile", SUB.replace("MODE_VALUE", "shallow"))
    repo.write("sub/data/x.txt", "shallow data\n")
    repo.write(
        "mid/Pipefile",
        """\
        version: 1
        environments:
          fast: {type: local, env: {MODE: mid}}
        steps:
          s:
            component: ./sub/Pipefile
            outputs: {o: {path: build/s.txt, output: true}}
          m:
            command: echo "$MODE" > ${{outputs.mo}}
            environment: fast
            outputs: {mo: {path: build/m.txt, output: true}}
        """,
    )
    repo.pipefile(
        """\
        steps:
          top:
            component: ./mid/Pipefile
            outputs: {o: out/o.txt, mo: out/m.txt}
          other:
            component: ./sub/Pipefile
            outputs: {o: out/other.txt}
        """
    )
    assert repo.outcomes() == {"top/s/a": "ran", "top/m": "ran", "other/a": "ran"}
    assert repo.read("out/o.txt") == "deep data\ndeep\n"
    assert repo.read("out/m.txt") == "mid\n"
    assert repo.read("out/other.txt") == "shallow data\nshallow\n"
    got = repo.pipe("envs", "--json", check=True).json["environments"]
    assert {e["name"]: e["steps"] for e in got} == {
        "mid/Pipefile:fast": ["top/m"],
        "mid/sub/Pipefile:fast": ["top/s/a"],
        "sub/Pipefile:fast": ["other/a"],
    }


def test_an_inner_step_that_does_not_load_is_the_only_error_not_its_outputs(repo):
    """An inner step whose component is not defined was followed by two errors that were not
    so: its pipeline's output 'bound to no inner step's output' (it was, by that step), and a
    reader's 'pipeline component has no output 'm'' with the hint 'known output names: 'm''."""
    repo.pipefile("""\
        components:
          p:
            type: pipeline
            outputs: {m: uri_file}
            steps:
              fit: {component: nosuch, outputs: {model: "${{parent.outputs.m}}"}}
        steps:
          a: {component: p, outputs: {m: build/m.txt}}
          b: {command: "cat ${{inputs.i}} > ${{outputs.o}}", inputs: {i: "${{steps.a.outputs.m}}"}, outputs: {o: b.txt}}
        """)
    r = repo.pipe("validate")
    assert r.code == 2, str(r)
    assert "component 'nosuch', which is not defined" in r.err, str(r)
    assert "bound to no inner step" not in r.err and "has no output" not in r.err, str(r)
    assert "1 error" in r.err or len([x for x in r.err.splitlines() if x.startswith("Pipefile:")]) == 1, str(r)
