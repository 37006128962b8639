"""Composition review (matrix, sweep, foreach, pipelines as components, the DSL): faults found
by trying the real CLI, each checked with real `pipe` processes in a temporary workspace."""

from __future__ import annotations

import os


def test_a_matrix_value_rendering_an_output_path_into_dot_pipe_is_refused_at_load(repo):
    # `outputs: {o: "${{inputs.v}}"}` with v = .pipe rendered pipe's own folder: the load let
    # it through (its check saw a sample value), and the run failed the task, exit 1, telling
    # the user to remove a link. Now: exit 2 at the output's line, naming the task and why.
    repo.pipefile(
        """\
        steps:
          w:
            matrix: {v: [ok, .pipe]}
            inputs: {v: {type: string}}
            command: echo x > ${{outputs.o}}
            outputs: {o: "${{inputs.v}}"}
        """
    )
    for cmd in ("status", "run"):
        r = repo.pipe(cmd)
        assert r.code == 2, str(r)
        assert "Pipefile:6:" in r.err and "'w[v=.pipe]'" in r.err and "inside .pipe/" in r.err, str(r)
    assert not repo.exists("ok")  # (nothing ran)
    assert not (repo.root / ".pipe").is_file()


def test_a_per_task_output_path_outside_the_workspace_says_so_not_that_inputs_are_refused(repo):
    # A matrix output path of inputs that leaves the workspace (or lies in .pipe/) was told
    # "must be a workspace path, not an expression ... an output path cannot use inputs (yet)":
    # wrong (a matrix's can) and silent on what was wrong. Now: the path's own problem.
    for path, said in (
        ("../out-${{inputs.v}}", "is outside the workspace"),
        ("/tmp/out-${{inputs.v}}", "is an absolute path"),
        (".pipe/${{inputs.v}}", "is inside .pipe/"),
    ):
        repo.pipefile(
            f"""\
            steps:
              w:
                matrix: {{v: [x]}}
                inputs: {{v: {{type: string}}}}
                command: echo x > ${{{{outputs.o}}}}
                outputs: {{o: "{path}"}}
            """
        )
        r = repo.pipe("status")
        assert r.code == 2, str(r)
        assert f"Pipefile:6:18: output 'o' of step 'w': '{path}' {said}" in r.err, str(r)
        assert "cannot use inputs" not in r.err, str(r)


INNER = """\
steps:
  s:
    command: cat ${{inputs.d}} > ${{outputs.o}}
    inputs: {d: data.txt}
    outputs: {o: {path: o.txt, output: true}}
"""


def _inner(repo, folder: str) -> None:
    repo.write(f"{folder}/Pipefile", INNER)
    repo.write(f"{folder}/data.txt", f"data of {folder}\n")


def test_a_pipefile_component_named_through_a_folder_link_runs_from_its_real_folder(repo):
    # component: ./ext/Pipefile with ext -> lib/sub: its commands ran in lib/sub, where the
    # paths placed from ext (../.pipe/stage/...) lead elsewhere: "Directory nonexistent", exit 1.
    _inner(repo, "lib/sub")
    _inner(repo, "lib/third")
    os.symlink("lib/sub", repo.root / "ext")
    repo.pipefile(
        """\
        steps:
          t:
            component: ./ext/Pipefile
            outputs: {o: build/o.txt}
        """
    )
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    assert repo.read("build/o.txt") == "data of lib/sub\n"
    # The link pointed elsewhere (a Pipefile of the same bytes): read from there, not the
    # parsed spec of before.
    os.unlink(repo.root / "ext")
    os.symlink("lib/third", repo.root / "ext")
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    assert repo.read("build/o.txt") == "data of lib/third\n"


def test_a_pipefile_component_linked_from_outside_the_workspace_is_refused(repo, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "Pipefile").write_text(INNER)
    (elsewhere / "data.txt").write_text("x\n")
    os.symlink(elsewhere, repo.root / "ext")
    repo.pipefile(
        """\
        steps:
          t:
            component: ./ext/Pipefile
        """
    )
    r = repo.pipe("status")
    assert r.code == 2, str(r)
    assert "Pipefile:3:16: step 't' uses './ext/Pipefile', which is outside the workspace" in r.err, str(r)


def test_the_spec_of_a_pipefile_named_through_a_link_stays_cached_until_the_link_moves(repo):
    # The link is kept in the spec's sources as where it leads: unchanged, the cached spec is
    # good (a no-op reads no Pipefile again); pointed elsewhere, it is not.
    from pipefile import load as loader
    from pipefile import speccache

    _inner(repo, "lib/sub")
    _inner(repo, "lib/third")
    os.symlink("lib/sub", repo.root / "ext")
    repo.pipefile("steps:\n  t:\n    component: ./ext/Pipefile\n")
    pf, errors = loader.load_lenient(str(repo.root / "Pipefile"))
    assert not errors
    assert speccache.sources_unchanged(pf)
    os.unlink(repo.root / "ext")
    os.symlink("lib/third", repo.root / "ext")
    assert not speccache.sources_unchanged(pf)


def test_a_batch_holding_a_relative_link_item_reads_the_file_it_leads_to(repo):
    # A batch's folder held a hard link of the item's link itself: its relative target
    # (../real/a.txt) led nowhere from .pipe/batches/STEP/batch-K, and the task failed.
    repo.write("real/a.txt", "A\n")
    repo.write("real/b.txt", "B\n")
    repo.write("data/x.txt", "X\n")
    os.symlink("../real/a.txt", repo.root / "data/y.txt")
    repo.pipefile(
        """\
        steps:
          m:
            foreach: {over: "${{inputs.d}}", batch_size: 2}
            inputs: {d: data/}
            command: cat ${{inputs.d}}/x.txt ${{inputs.d}}/y.txt > ${{outputs.o}}
            outputs: {o: build/o}
        """
    )
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    assert repo.read("build/o/batch-1") == "X\nA\n"
    # The item's link pointed at another file: the batch runs again on it.
    os.unlink(repo.root / "data/y.txt")
    os.symlink("../real/b.txt", repo.root / "data/y.txt")
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    assert repo.read("build/o/batch-1") == "X\nB\n"


def test_a_list_param_mapped_with_a_value_twice_names_the_param_in_its_fix(repo):
    # The fix said "give each combination distinct values" (a matrix's words): a foreach over
    # a list param has no combinations; the value twice is in the param.
    repo.pipefile(
        """\
        params:
          cities: {type: list, default: [a, b, a]}
        steps:
          m:
            foreach: ${{inputs.c}}
            inputs: {c: "${{params.cities}}"}
            command: echo ${{inputs.c}} > ${{outputs.o}}
            outputs: {o: build/o/}
        """
    )
    r = repo.pipe("status")
    assert r.code == 2, str(r)
    assert "Pipefile:5:" in r.err and "two tasks labelled 'a'" in r.err, str(r)
    assert "list each value of param 'cities' once" in r.err, str(r)


def test_a_list_param_given_a_nul_in_a_json_value_is_a_usage_error(repo):
    # -p 'c=["a\u0000b"]' (JSON can spell a NUL) reached the map's output path: exit 70,
    # "internal error: ValueError('embedded null byte')". A string param's NUL was refused.
    repo.pipefile(
        """\
        params:
          c: {type: list, default: [a]}
        steps:
          m:
            foreach: ${{inputs.c}}
            inputs: {c: "${{params.c}}"}
            command: echo ${{inputs.c}} > ${{outputs.o}}
            outputs: {o: build/o/}
        """
    )
    for cmd in ("run", "status"):
        r = repo.pipe(cmd, "-p", 'c=["x", "a\\u0000b"]')
        assert r.code == 2, str(r)
        assert "param 'c' holds a NUL character" in r.err, str(r)


def test_a_list_param_given_a_lone_surrogate_in_a_json_value_is_a_usage_error(repo):
    # -p 'c=["\ud800"]' (a JSON escape of half a pair) ended in a traceback and exit 1: the
    # error handler for names that are not UTF-8 could not print it either.
    repo.pipefile(
        """\
        params:
          c: {type: list, default: [a]}
        steps:
          m:
            foreach: ${{inputs.c}}
            inputs: {c: "${{params.c}}"}
            command: echo ${{inputs.c}} > ${{outputs.o}}
            outputs: {o: build/o/}
        """
    )
    r = repo.pipe("run", "-p", 'c=["x", "\\ud800"]')
    assert r.code == 2, str(r)
    assert "param 'c' holds a lone surrogate" in r.err and "Traceback" not in r.err, str(r)
    # A pair is a character: mapped as any value.
    r = repo.pipe("run", "-p", 'c=["\\ud83d\\ude00"]')
    assert r.code == 0, str(r)
    assert repo.read("build/o/\U0001f600") == "\U0001f600\n"


def test_a_dsl_value_the_loader_refuses_while_reading_the_text_points_at_the_python_line(repo):
    # A NUL (or a lone surrogate) in a DSL value is refused as the generated text is read,
    # before its lines are placed: the error said build.py:21:9, a line of the generated
    # Pipefile given with the module's name (build.py has 9 lines).
    repo.write(
        "comps.py",
        """\
        from pipefile import dsl


        @dsl.command_component
        def f(v: str = "a", out: dsl.Output(type="uri_file") = None):
            open(out, "w").write(v)
        """,
    )
    for value, said in (('"a\\0b"', "a NUL character"), ('"\\ud800"', "invalid YAML")):
        repo.write(
            "build.py",
            f"""\
            from comps import f

            from pipefile import dsl


            @dsl.pipeline(name="p")
            def p():
                t = f().matrix(v=[{value}, "ok"])


            pipeline = p()
            """,
        )
        r = repo.pipe("status", "-f", "build.py")
        assert r.code == 2, str(r)
        assert f"build.py:8: {said}" in r.err, str(r)


def test_a_task_named_with_the_axes_in_another_order_is_pointed_at_that_task(repo):
    # 't[d=3,lr=0.1]' (axes out of order) got "did you mean 't[lr=0.1,d=5]'?", the nearest
    # spelling: another task. Now the task it names, and why its spelling differs.
    repo.pipefile(
        """\
        steps:
          t:
            matrix: {lr: [0.1, 0.2], d: [3, 5]}
            inputs: {lr: {type: number}, d: {type: integer}}
            command: echo ${{inputs.lr}} ${{inputs.d}} > ${{outputs.o}}
            outputs: {o: build/o}
          u:
            inputs: {x: "${{steps.t[d=3,lr=0.1].outputs.o}}"}
            command: cat ${{inputs.x}} > ${{outputs.o}}
            outputs: {o: build/u.txt}
        """
    )
    r = repo.pipe("status")
    assert r.code == 2, str(r)
    assert "Pipefile:8:" in r.err and "did you mean 't[lr=0.1,d=3]'? (a task's label names the axes" in r.err, str(r)
    repo.write("Pipefile", repo.read("Pipefile").replace("t[d=3,lr=0.1]", "t[lr=0.1,d=3]"))
    r = repo.pipe("run", "t[d=3,lr=0.1]")
    assert r.code == 2, str(r)
    assert "did you mean 't[lr=0.1,d=3]'?" in r.err, str(r)


def test_a_grid_sweep_choice_with_a_value_twice_is_refused_as_a_matrix_axis_is(repo):
    # choice: [1, 2, 1] under search: grid made trial-1 and trial-3 of one combination (one
    # ran, the other waited and was restored), while a matrix axis with a value twice is an
    # error; with a path of the inputs it was "two tasks write one path", naming no value.
    repo.pipefile(
        """\
        steps:
          t:
            sweep: {search: grid, space: {lr: {choice: [1, 2, 1]}}}
            inputs: {lr: {type: number}}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: build/o}
        """
    )
    r = repo.pipe("status")
    assert r.code == 2, str(r)
    assert "Pipefile:3:" in r.err and "choice of input 'lr' in the sweep of step 't' lists a value twice" in r.err


ENUM_DSL = """\
from pipefile import dsl

prep = dsl.command(
    name="prep",
    command="echo ${{inputs.mode}} > ${{outputs.out}}",
    inputs={"mode": dsl.Input(type="string", default="a", enum=["a", "b"])},
    outputs={"out": dsl.Output(type="uri_file")},
)


@dsl.command_component
def twice(k: dsl.Input(type="integer", default=3, enum=[1, 3]), out: dsl.Output(type="uri_file") = None):
    open(out, "w").write(str(2 * k))


@dsl.pipeline
def pipeline(mode: str = "a"):
    prep(mode=mode)
    twice()
    CALL
"""


def test_a_dsl_input_declares_an_enum_which_the_exported_pipefile_keeps(repo):
    # A Pipefile's (and Azure ML's) component input has `enum:`; dsl.Input(enum=...) was a
    # TypeError, so a DSL component could not say it. Now: it is the component's enum (in the
    # exported Pipefile, which reads back with it), a literal outside it is refused at the call's
    # line, and a -p value outside it at the param's.
    repo.write("build.py", ENUM_DSL.replace("CALL", "pass"))
    exported = repo.pipe("export", "build.py", "-o", "Pipefile")
    assert exported.code == 0, str(exported)
    text = repo.read("Pipefile")
    assert "enum:\n        - a\n        - b" in text and "enum:\n        - 1\n        - 3" in text, text
    ran = repo.pipe("run")
    assert ran.code == 0 and repo.read("build/twice/out") == "6", str(ran)
    refused = repo.pipe("status", "-p", "mode=z")  # (the Pipefile read back holds -p to it)
    assert refused.code == 2 and "its enum" in refused.err, str(refused)
    refused = repo.pipe("status", "-f", "build.py", "-p", "mode=z")
    assert refused.code == 2 and "its enum" in refused.err, str(refused)
    for call, line, said in (
        ("prep(mode='c')", 20, "input 'mode' of component 'prep': 'c' is not one of its enum values"),
        ("twice(k=2)", 20, "input 'k' of component 'twice': 2 is not one of its enum values"),
    ):
        repo.write("build.py", ENUM_DSL.replace("CALL", call))
        r = repo.pipe("status", "-f", "build.py")
        assert r.code == 2 and f"build.py:{line}: {said}" in r.err, str(r)
    for bad, said in (
        ('dsl.Input(type="string", default="c", enum=["a", "b"])', "the default 'c' is not one of its enum values"),
        ('dsl.Input(type="uri_file", enum=["a"])', "a uri_file input (a path) takes no enum"),
        ('dsl.Input(type="integer", enum=[1, "x"])', "enum holds 'x', which is not an integer"),
        ('dsl.Input(type="string", enum=[])', "enum must be a non-empty list"),
    ):
        decl = 'dsl.Input(type="string", default="a", enum=["a", "b"])'
        repo.write("build.py", ENUM_DSL.replace("CALL", "pass").replace(decl, bad))
        r = repo.pipe("status", "-f", "build.py")
        assert r.code == 2 and f"build.py:6: Input: {said}" in r.err, str(r)


def test_a_command_component_input_annotated_with_an_input_keeps_its_default(repo):
    # `k: dsl.Input(type="integer", default=3)` as an annotation: its default was dropped (the
    # input was required, and a call leaving it out refused); and `k=dsl.Input(type="integer")`
    # as a default, with no default of its own, was refused as "the default ... is <MISSING>".
    repo.write(
        "build.py",
        """\
        from pipefile import dsl


        @dsl.command_component
        def twice(
            k: dsl.Input(type="integer", default=3), j=dsl.Input(type="integer"), out: dsl.Output(type="uri_file") = None
        ):
            open(out, "w").write(str(2 * k + j))


        @dsl.pipeline
        def pipeline():
            twice(j=1)
        """,
    )
    ran = repo.pipe("run", "-f", "build.py")
    assert ran.code == 0 and repo.read("build/twice/out") == "7", str(ran)


def test_pipe_import_azureml_keeps_a_component_inputs_enum_in_the_pipefile_it_writes(repo):
    # The Pipefile written from an Azure ML pipeline dropped its components' `enum:` (a Pipefile
    # component input has one): -p k=4, refused by `pipe run -f pipeline.yml`, was taken by the
    # Pipefile. Now the Pipefile holds the same enums, and refuses the same -p value.
    repo.write(
        "c.yml",
        """\
        inputs:
          n: {type: integer, enum: [1, 2, 3]}
          mode: {type: string, default: fast, enum: [fast, slow]}
          r: {type: number, optional: true, enum: [0.5, 1]}
        outputs:
          o: {type: uri_file}
        command: echo ${{inputs.n}} ${{inputs.mode}} $[[${{inputs.r}}]] > ${{outputs.o}}
        """,
    )
    repo.write(
        "pipeline.yml",
        "type: pipeline\ninputs:\n  k: 2\njobs:\n  a:\n    component: ./c.yml\n    inputs:\n      n: ${{parent.inputs.k}}\n",
        dedent=False,
    )
    ran = repo.pipe("run", "-f", "pipeline.yml")
    assert ran.code == 0, str(ran)
    wrote = repo.pipe("import", "azureml", "pipeline.yml", "-o", "Pipefile")
    assert wrote.code == 0, str(wrote)
    text = repo.read("Pipefile")
    assert (
        "enum:\n        - 1\n        - 2\n        - 3\n" in text and "enum:\n        - fast\n        - slow\n" in text
    ), text
    assert "enum:\n        - 0.5\n        - 1.0\n" in text, text
    fresh = repo.pipe("status")  # (the same keys: what the YAML built is fresh here)
    assert fresh.code == 0 and "up to date" in fresh.out + fresh.err, str(fresh)
    for source in ("pipeline.yml", "Pipefile"):
        refused = repo.pipe("status", "-f", source, "-p", "k=4")
        assert refused.code == 2 and "does not take (its enum: [1, 2, 3])" in refused.err, str(refused)


def test_validate_counts_the_steps_declared_and_the_tasks_they_expand_into(repo):
    # `pipe validate` said "5 steps" for a Pipefile of two steps (a matrix of 3, a sweep of 2):
    # it counted tasks as steps. Now it says both.
    repo.pipefile(
        """\
        components:
          c:
            inputs: {v: integer}
            outputs: {o: uri_file}
            command: echo ${{inputs.v}} > ${{outputs.o}}
        steps:
          a:
            component: c
            matrix: {v: [1, 2, 3]}
            outputs: {o: "build/a${{inputs.v}}.txt"}
          s:
            component: c
            sweep: {search: grid, space: {v: {choice: [1, 2]}}}
            outputs: {o: "build/s${{inputs.v}}.txt"}
          b:
            component: c
            inputs: {v: 1}
            outputs: {o: build/b.txt}
        """
    )
    r = repo.pipe("validate")
    assert r.code == 0 and r.out.strip() == "Pipefile: ok (3 steps, 6 tasks, 0 params, 0 assets)", str(r)
    # a sweep's STEP.best and a pipeline step's inner steps are tasks of the step too
    repo.pipefile(
        """\
        components:
          tune:
            type: pipeline
            outputs: {best: uri_file}
            steps:
              s:
                sweep: {search: grid, space: {v: {choice: [1, 2]}}, objective: {metric: loss, goal: minimize}}
                inputs: {v: {type: integer}}
                command: echo loss=${{inputs.v}} | tr = ':' > ${{outputs.m}}
                outputs: {m: }
                metrics: "@m"
              pick:
                inputs: {m: "${{steps.s.best.outputs.m}}"}
                command: cp ${{inputs.m}} ${{outputs.o}}
                outputs: {o: "${{parent.outputs.best}}"}
        steps:
          a:
            component: tune
            outputs: {best: build/a.json}
        """
    )
    r = repo.pipe("validate")
    assert r.code == 0 and r.out.strip() == "Pipefile: ok (1 step, 4 tasks, 0 params, 0 assets)", str(r)
    repo.pipefile("steps:\n  b:\n    command: echo > ${{outputs.o}}\n    outputs: {o: build/b.txt}\n")
    r = repo.pipe("validate")
    assert r.code == 0 and r.out.strip() == "Pipefile: ok (1 step, 0 params, 0 assets)", str(r)


LITERAL_INPUTS = """\
from pipefile import dsl

leaf = dsl.command(
    name="leaf",
    command="echo ${{inputs.lr}} ${{inputs.mode}} > ${{outputs.o}}",
    inputs={"lr": dsl.Input(type="number", default=0.1), "mode": dsl.Input(type="string", default="a")},
    outputs={"o": dsl.Output(type="uri_file")},
)


@dsl.pipeline
def inner(lr: dsl.Input(type="number", enum=[0.3, 0.5]) = 0.3, mode=dsl.Input(type="string", default="b")):
    return {"o": leaf(lr=lr, mode=mode).outputs.o}


@dsl.pipeline
def pipeline(mode=dsl.Input(type="string", default="a", enum=["a", "c"]), lr: dsl.Input(type="number") = 0.5):
    one = inner(mode=mode)
    two = inner(lr=lr)
    CALL
"""


def test_a_pipeline_parameter_declared_as_a_literal_input_is_a_param(repo):
    # azure.ai.ml takes `lr=Input(type="number", default=0.1)` as a pipeline's literal input; the
    # DSL took every Input as data: "pipeline input 'lr' has no path ... uri_file" at the top,
    # "input 'lr' of component 'leaf' is a number, not data" in a pipeline used as a component.
    # Now it is a param (an input of the pipeline component) with its type, default and enum.
    repo.write("build.py", LITERAL_INPUTS.replace("CALL", "pass"))
    ran = repo.pipe("run", "-f", "build.py", "-p", "mode=c")
    assert ran.code == 0, str(ran)
    assert repo.read("build/one/o") == "0.3 c\n" and repo.read("build/two/o") == "0.5 b\n"
    refused = repo.pipe("status", "-f", "build.py", "-p", "mode=z")
    assert refused.code == 2 and "-p mode=z" in refused.err and "enum" in refused.err, str(refused)
    repo.write("build.py", LITERAL_INPUTS.replace("CALL", "inner(lr=0.7)"))
    refused = repo.pipe("status", "-f", "build.py")
    assert refused.code == 2 and "build.py:20: input 'lr' of component 'inner': 0.7 is not one of" in refused.err


def test_a_loaded_component_keeps_its_inputs_enum(repo):
    # dsl.load_component of a component YAML (or a Pipefile's component) dropped its inputs'
    # enum: the exported Pipefile's copy took any value, and so did `pipe run -f build.py`.
    repo.write(
        "comps/pick.yml",
        """\
        name: pick
        inputs:
          mode: {type: string, default: fast, enum: [fast, slow], description: how}
          src: {type: uri_file, default: x.txt, description: what}
        outputs: {o: uri_file}
        command: cat ${{inputs.src}} > ${{outputs.o}} && echo ${{inputs.mode}} >> ${{outputs.o}}
        """,
    )
    repo.write("comps/x.txt", "x\n")
    build = (
        "from pipefile import dsl\n\npick = dsl.load_component('comps/pick.yml')\n\n\n"
        "@dsl.pipeline\ndef pipeline(mode: str = 'fast'):\n    pick(mode=mode)\n    CALL\n"
    )
    repo.write("build.py", build.replace("CALL", "pass"), dedent=False)
    exported = repo.pipe("export", "build.py", "-o", "-")
    assert exported.code == 0, str(exported)
    assert "enum:\n        - fast\n        - slow" in exported.out and "description: what" in exported.out, exported.out
    refused = repo.pipe("status", "-f", "build.py", "-p", "mode=medium")
    assert refused.code == 2 and "its enum" in refused.err, str(refused)
    repo.write("build.py", build.replace("CALL", "pick(mode='medium')"), dedent=False)
    refused = repo.pipe("status", "-f", "build.py")
    assert refused.code == 2 and "build.py:9: input 'mode' of component 'pick': 'medium' is not one" in refused.err


def test_a_matrix_whose_exclude_leaves_no_combination_is_a_located_error(repo):
    # Every combination excluded: the load took the matrix for an empty map and failed on it,
    # "internal error: KeyError('')", exit 70, from pipe run, status and validate alike.
    repo.pipefile(
        """\
        steps:
          a:
            matrix: {v: [1, 2], exclude: [{v: 1}, {v: 2}]}
            inputs: {v: {type: integer}}
            command: echo ${{inputs.v}} > ${{outputs.o}}
            outputs: {o: build/a}
        """
    )
    for cmd in ("validate", "status", "run"):
        r = repo.pipe(cmd)
        assert r.code == 2, str(r)
        assert "Pipefile:3:5: the matrix of step 'a' makes no tasks: its exclude: leaves no combination" in r.err
        assert "hint: remove an entry of exclude:" in r.err, str(r)
    repo.write(
        "build.py",
        """\
        from pipefile import dsl

        c = dsl.command(name="c", command="echo ${{inputs.v}} > ${{outputs.o}}", inputs={"v": int}, outputs={"o": None})


        @dsl.pipeline
        def pipeline():
            c().matrix(v=[1], exclude=[{"v": 1}])
        """,
    )
    r = repo.pipe("status", "-f", "build.py")
    assert r.code == 2 and "build.py:8: the matrix of step 'c' makes no tasks" in r.err, str(r)


def test_a_dsl_pipeline_that_uses_itself_is_told_so_at_the_call(repo):
    # A pipeline function calling itself (directly or through another) recursed until Python's
    # limit: "RecursionError: maximum recursion depth exceeded (at .../inspect.py...)". A
    # Pipefile's pipeline that uses itself is an error naming it; so is this now.
    repo.write(
        "build.py",
        """\
        from pipefile import dsl

        leaf = dsl.command(name="leaf", command="echo > ${{outputs.o}}", outputs={"o": "uri_file"})


        @dsl.pipeline
        def a():
            return {"o": b().outputs.o}


        @dsl.pipeline
        def b():
            leaf()
            return {"o": a().outputs.o}


        @dsl.pipeline
        def pipeline():
            a()
        """,
    )
    r = repo.pipe("status", "-f", "build.py")
    assert r.code == 2 and "build.py:14: pipeline 'a' uses itself" in r.err and "hint: " in r.err, str(r)
    assert "RecursionError" not in r.err


def test_a_dsl_sweep_given_a_list_is_told_the_dsl_fix(repo):
    # `.sweep(lr=[0.1, 0.2])` got the Pipefile's message: "must be a mapping (key: value), not a
    # list", hint "give each entry a name: {x0: 0.1}", a YAML fix that means nothing in Python.
    repo.write(
        "build.py",
        """\
        from pipefile import dsl

        c = dsl.command(name="c", command="echo ${{inputs.lr}} > ${{outputs.o}}", inputs={"lr": float}, outputs={"o": None})


        @dsl.pipeline
        def pipeline():
            c().sweep(lr=[0.1, 0.2], search="grid")
        """,
    )
    r = repo.pipe("status", "-f", "build.py")
    assert r.code == 2 and "build.py:8: sweep input 'lr': [0.1, 0.2] is not a search space" in r.err, str(r)
    assert "hint: write lr=dsl.choice(0.1, 0.2)" in r.err and "x0" not in r.err, str(r)


def test_an_output_path_with_an_optional_block_is_not_told_inputs_cannot_be_used(repo):
    # The hint said "an output path cannot use inputs or params (yet)", false since a matrix's
    # and a sweep's may: a user who wrote $[[ ]] or a param in one was sent the wrong way.
    for path in ("build/a$[[-${{inputs.v}}]].txt", "build/a-${{params.p}}.txt"):
        repo.pipefile(
            f"""\
            params: {{p: {{type: string, default: x}}}}
            steps:
              a:
                matrix: {{v: [1, 2]}}
                inputs: {{v: {{type: integer}}}}
                command: echo ${{{{inputs.v}}}} > ${{{{outputs.o}}}}
                outputs: {{o: "{path}"}}
            """
        )
        r = repo.pipe("validate")
        assert r.code == 2 and "Pipefile:7:" in r.err and "(yet)" not in r.err, str(r)
        assert "only the inputs a matrix or sweep sets may be used in an output path" in r.err, str(r)


def test_a_map_over_a_steps_folder_into_a_file_input_is_not_refused_as_a_type_mismatch(repo):
    # A component whose input is one file (`item: uri_file`), mapped with foreach over another
    # step's folder output: refused at load, "expects a uri_file, but output 'parts' ... is a
    # uri_folder", though each task's input is one file of it (the same map over a workspace
    # folder ran). The DSL refused the call before .foreach() could say so. Both map now; a
    # folder bound to a file input with no map is still refused, at the call, with the fix.
    repo.pipefile(
        """\
        components:
          size:
            inputs: {item: uri_file}
            outputs: {n: uri_file}
            command: wc -c < ${{inputs.item}} > ${{outputs.n}}
        steps:
          split:
            command: mkdir -p ${{outputs.parts}} && echo a > ${{outputs.parts}}/p1 && echo bb > ${{outputs.parts}}/p2
            outputs: {parts: build/parts/}
          z:
            component: size
            foreach: ${{inputs.item}}
            inputs: {item: "${{steps.split.outputs.parts}}"}
            outputs: {n: build/n}
        """
    )
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    assert [repo.read(f"build/n/p{i}").strip() for i in (1, 2)] == ["2", "3"]
    build = """\
        from pipefile import dsl

        split = dsl.command(name="split", command="mkdir -p ${{outputs.parts}} && echo a > ${{outputs.parts}}/p1",
                            outputs={"parts": "uri_folder"})
        size = dsl.command(name="size", command="wc -c < ${{inputs.item}} > ${{outputs.n}}",
                           inputs={"item": "uri_file"}, outputs={"n": "uri_file"})


        @dsl.pipeline
        def pipeline():
            s = split()
            z = size(item=s.outputs.parts)MAP
        """
    repo.write("build.py", build.replace("MAP", '.foreach("item")'))
    r = repo.pipe("run", "-f", "build.py")
    assert r.code == 0 and repo.read("build/z/n/p1").strip() == "2", str(r)
    repo.write("build.py", build.replace("MAP", ""))
    r = repo.pipe("status", "-f", "build.py")
    assert r.code == 2 and "build.py:12: input 'item' of component 'size' is a file (uri_file), but output" in r.err
    assert 'hint: map over its entries: .foreach("item") after the call' in r.err, str(r)


def test_pipe_export_says_1_step_not_1_steps(repo):
    # "wrote Pipefile (1 steps)": the count was pasted before a fixed plural
    repo.write(
        "build.py",
        """\
        from pipefile import dsl

        c = dsl.command(name="c", command="echo > ${{outputs.o}}", outputs={"o": "uri_file"})


        @dsl.pipeline
        def pipeline():
            c()
        """,
    )
    r = repo.pipe("export", "build.py", "-o", "Pipefile")
    assert r.code == 0 and "wrote Pipefile (1 step); run it with" in r.err, str(r)


def test_a_sweeps_refused_metrics_are_not_also_called_missing(repo):
    # metrics: written but refused (a folder) gave a second error, "the sweep ... has an
    # objective but the step has no metrics: add metrics: PATH", sending the user to add what
    # is there. One error now, the one that says what is wrong with it; none written: that one.
    step = """\
        steps:
          t:
            sweep: {search: grid, space: {x: {choice: [1, 2]}}, objective: {metric: loss, goal: minimize}}
            inputs: {x: {type: integer}}
            command: echo loss=${{inputs.x}} > ${{outputs.m}}
            outputs: {m: build/m/}
        """
    repo.pipefile(step.rstrip(" ") + "            metrics: build/m/\n")
    r = repo.pipe("validate")
    assert r.code == 2 and "is output 'm', a folder" in r.err and "has no metrics" not in r.err, str(r)
    repo.pipefile(step)
    r = repo.pipe("validate")
    assert r.code == 2 and "has an objective ('loss') but the step has no metrics" in r.err, str(r)


def test_a_literal_input_params_enum_holds_the_value_the_pipeline_is_called_with(repo):
    # `pipeline = main(mode="z")` for `mode=dsl.Input(type="string", enum=["a", "b"])`: the value
    # given replaced the Input, and its enum with it (taken, and left out of the export).
    build = """\
        from pipefile import dsl

        c = dsl.command(name="c", command="echo > ${{outputs.o}}", outputs={"o": "uri_file"})


        @dsl.pipeline
        def main(mode=dsl.Input(type="string", default="a", enum=["a", "b"])):
            c()


        pipeline = main(mode=MODE)
        """
    repo.write("build.py", build.replace("MODE", '"z"'))
    r = repo.pipe("status", "-f", "build.py")
    assert r.code == 2 and "build.py:11: pipeline 'main': param 'mode' is 'z', not one of its enum" in r.err, str(r)
    repo.write("build.py", build.replace("MODE", '"b"'))
    r = repo.pipe("export", "build.py", "-o", "-")
    assert r.code == 0 and "default: b\n    enum:\n    - a\n    - b\n" in r.out, str(r)


def test_pipe_import_azureml_keeps_the_enum_of_a_number_input_written_as_an_integer(repo):
    # A number input bound to a whole literal is written `type: integer` (so its command is
    # the same); its enum [1.0, 2.0] then did not fit that type and was dropped.
    repo.write(
        "c.yml",
        "inputs:\n  n: {type: number, enum: [1, 2]}\noutputs:\n  o: {type: uri_file}\n"
        "command: echo ${{inputs.n}} > ${{outputs.o}}\n",
        dedent=False,
    )
    repo.write(
        "pipeline.yml", "type: pipeline\njobs:\n  a:\n    component: ./c.yml\n    inputs:\n      n: 2\n", dedent=False
    )
    r = repo.pipe("import", "azureml", "pipeline.yml", "-o", "Pipefile")
    assert r.code == 0, str(r)
    assert "type: integer\n        enum:\n        - 1\n        - 2\n" in repo.read("Pipefile"), repo.read("Pipefile")
    assert repo.pipe("validate").code == 0


def test_an_input_s_long_form_takes_a_boolean_value_as_the_docs_say(repo):
    # `{value: true}` was refused with "a value must be a number, a string or a boolean": the
    # check refused the boolean it named (docs/pipefile.md: a value is a number, a string or a
    # boolean). The short form `flag: true` was taken all along.
    repo.pipefile(
        """\
        steps:
          m:
            inputs: {f: {value: true}, g: {type: boolean, value: false}, h: true}
            command: echo ${{inputs.f}} ${{inputs.g}} ${{inputs.h}} > ${{outputs.o}}
            outputs: {o: o.txt}
        """
    )
    r = repo.pipe("run")
    assert r.code == 0 and repo.read("o.txt") == "true false true\n", str(r)
    repo.pipefile(
        """\
        steps:
          m:
            inputs: {f: {value: [1]}}
            command: echo ${{inputs.f}}
        """
    )
    r = repo.pipe("validate")
    assert r.code == 2 and "a value must be a number, a string or a boolean" in r.err, str(r)


def test_a_path_input_given_as_value_is_told_to_write_path_not_to_bind_a_param(repo):
    # `{type: uri_folder, value: data}` said "bind a uri_folder: a literal value or
    # ${{params.NAME}} of type uri_folder": it was a literal value, and a param never feeds a
    # path. Now it says that a path is written with path:.
    repo.write("data/a.txt", "x")
    repo.pipefile(
        """\
        steps:
          m:
            foreach: ${{inputs.f}}
            inputs: {f: {type: uri_folder, value: data}}
            command: cat ${{inputs.f}} > ${{outputs.o}}
            outputs: {o: build/m/}
        """
    )
    r = repo.pipe("validate")
    assert r.code == 2 and "input 'f' of step 'm' is a uri_folder (a path), given as value: 'data'" in r.err, str(r)
    assert "hint: write path: for a file or folder: {type: uri_folder, path: data}" in r.err, str(r)
    assert "params.NAME" not in r.err, str(r)


def test_an_empty_foreach_glob_is_told_empty_not_a_path(repo):
    # `glob: ""` was told "must match names in the folder, not paths": it names no path.
    repo.write("data/a.txt", "x")
    repo.pipefile(
        """\
        steps:
          m:
            foreach: {over: "${{inputs.f}}", glob: ""}
            inputs: {f: data}
            command: cat ${{inputs.f}} > ${{outputs.o}}
            outputs: {o: build/m/}
        """
    )
    r = repo.pipe("validate")
    assert r.code == 2 and "Pipefile:3:" in r.err and "glob of foreach of step 'm' is empty" in r.err, str(r)
    assert "not paths" not in r.err and "or leave glob out" in r.err, str(r)
