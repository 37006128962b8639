"""A review of the loader against hostile and careless Pipefiles (load46): what it let through.

Each test writes real files and loads them as `pipe validate` does (in process, through
`validation_errors`), or runs the real `pipe` CLI where the run itself is the point.
"""

from __future__ import annotations

import pytest
from workspace_repo import validation_errors

NESTED = """\
steps:
  s:
    command: echo inner > ${{outputs.o}}
    outputs:
      o: {path: o.txt, output: true}
"""


def _messages(root) -> list:
    return [(str(e.loc), e.message, e.hint) for e in validation_errors(root)]


def test_an_output_may_not_replace_a_pipefile_used_as_a_component(repo):
    # A step writing the folder (or the file) of a Pipefile another step uses as a component
    # was accepted: the run rewrote the pipeline it was running (only the top Pipefile was
    # guarded).
    repo.write("sub/Pipefile", NESTED)
    for out in ("sub", "sub/Pipefile"):
        repo.pipefile(
            f"""\
            steps:
              t:
                component: ./sub
                outputs: {{o: out.txt}}
              w:
                command: mkdir -p sub && echo x > ${{{{outputs.o}}}}
                outputs: {{o: {out}}}
            """
        )
        found = _messages(repo.root)
        assert [m[0] for m in found] == ["Pipefile:7:18"], found
        assert "would overwrite 'sub/Pipefile', a file the pipeline is read from" in found[0][1]
        assert found[0][1].startswith("output 'o' of step 'w'")
        assert found[0][2] == "write outputs somewhere else, e.g. build/"
    r = repo.pipe("run")
    assert r.code == 2, str(r)
    assert repo.read("sub/Pipefile") == NESTED


def test_an_output_may_not_write_where_a_components_pipefile_is_looked_for(repo):
    # `component: ./sub` reads sub/Pipefile.yaml when there is no sub/Pipefile: a step writing
    # sub/Pipefile changes which pipeline the next load reads.
    repo.write("sub/Pipefile.yaml", NESTED)
    repo.pipefile(
        """\
        steps:
          t:
            component: ./sub
            outputs: {o: out.txt}
          w:
            command: echo x > ${{outputs.o}}
            outputs: {o: sub/Pipefile}
        """
    )
    found = _messages(repo.root)
    assert len(found) == 1, found
    assert found[0][0] == "Pipefile:7:18"
    assert "would write 'sub/Pipefile', where a component's Pipefile is looked for" in found[0][1]


def test_the_top_pipefile_is_still_guarded(repo):
    repo.pipefile(
        """\
        steps:
          a:
            command: echo x > ${{outputs.o}}
            outputs: {o: Pipefile}
        """
    )
    found = _messages(repo.root)
    assert found == [
        (
            "Pipefile:4:18",
            "output 'o' of step 'a' would overwrite the Pipefile",
            "write outputs somewhere else, e.g. build/",
        )
    ]


def test_an_empty_sweep_search_is_refused_located(repo):
    # `search: ''` passed as "no search given" and reached the planner as a map of no items:
    # KeyError, exit 70. It is an unknown search, as any other word.
    repo.pipefile(
        """\
        steps:
          t:
            sweep:
              search: ''
              trials: 2
              space: {lr: {uniform: [0, 1]}}
              objective: {metric: acc}
            inputs: {lr: {type: number}}
            command: echo ${{inputs.lr}} > ${{outputs.m}}
            outputs: {m: build/m.json}
            metrics: build/m.json
        """
    )
    found = _messages(repo.root)
    assert found == [("Pipefile:4:15", "unknown search '' in the sweep of step 't'", "use grid, random or bayesian")], (
        found
    )
    r = repo.pipe("validate")
    assert r.code == 2 and "internal error" not in r.err, str(r)


ONE = "steps:\n  a:\n    command: echo hi > ${{outputs.o}}\n    outputs: {o: o.txt}\n"
PIPELINE = """\
components:
  p:
    type: pipeline
    outputs: {m: uri_file}
    steps:
      up:
        command: echo > ${{outputs.o}}
        outputs: {o: {type: uri_folder, path: "${{parent.outputs.m}}"}}
steps:
  top:
    component: p
    outputs: {m: "${{steps.x.outputs.y}}"}
"""
COMPONENT = """\
components:
  c:
    command: echo > ${{outputs.o}}
    inputs: {flag: {type: boolean, optional: maybe}}
    outputs: {o: uri_file}
steps:
  a:
    component: c
    outputs: {o: {type: uri_folder, path: o.txt}}
"""


@pytest.mark.parametrize(
    "text, fragment",
    [
        (ONE + "    matrix: {lr: [[1]]}\n", "each value of"),
        (ONE + "    matrix: {lr: [1], include: [{lr: [2]}]}\n", "the value of 'lr' in"),
        (ONE + "    inputs: {x: [1, 2]}\n", "not a list"),
        (ONE + "    inputs: {x: {type: string}}\n", "needs exactly one of path: or value:"),
        (ONE + "    render: html\n", "render of step 'a' must be one of"),
        (ONE + "    resources: {cpus: 0}\n", "cpus of step 'a'"),
        ("name: [a, b]\n" + ONE, "must be a string, not a list"),
        ("name: 5\n" + ONE, "must be a string, not '5'"),
        ("name:\n" + ONE, "must be a string, not empty"),
        (ONE.replace("outputs: {o: o.txt}", "outputs: {? [o] : o.txt}"), "must be plain names"),
        (ONE + "    <<: [1]\n", "invalid merge key"),
        (ONE.replace("echo hi > ${{outputs.o}}", "'   '"), "the command of step 'a' is empty"),
        (ONE.replace("echo hi > ${{outputs.o}}", ""), "the command of step 'a' is empty"),
        (ONE.replace("echo hi > ${{outputs.o}}", "[]"), "the command of step 'a' is empty"),
        (ONE.replace("echo hi > ${{outputs.o}}", "{x: 1}"), "must be a string or a list of arguments"),
        ("params:\n  p: [[1]]\n" + ONE, "is a list whose items are not all"),
        (PIPELINE, "must be a workspace path, not an expression"),
        (PIPELINE, "is a uri_folder, but output 'm' of pipeline component 'p' is a uri_file"),
        (COMPONENT, "optional must be true or false"),
        (COMPONENT, "is declared uri_file by its component, not uri_folder"),
    ],
)
def test_every_loader_error_says_how_to_fix_it(tmp_path, text, fragment):
    # These errors named the place and the problem, and no fix (no hint line at all); the
    # contract is file:line, what is wrong, and the fix.
    (tmp_path / "Pipefile").write_text(text)
    found = [e for e in validation_errors(tmp_path) if fragment in e.message]
    assert found, [e.message for e in validation_errors(tmp_path)]
    for e in found:
        assert e.loc is not None and e.loc.line, e.render()
        assert e.hint, e.render()


@pytest.mark.parametrize(
    "text, hint",
    [
        ("- a\n- b\n", "a Pipefile is key: value lines, steps: among them"),
        ("hello\n", "a Pipefile is key: value lines, steps: among them"),
        ("steps: hello\n", "write NAME: VALUE lines under it, indented, or {NAME: VALUE}"),
        (
            "steps:\n  a: python train.py\n",
            "write the step's keys on the lines under it, indented: command: python train.py",
        ),
        ("steps:\n  a:\n    command: x\n    outputs: 5\n", "write NAME: VALUE lines under it"),
        ("steps:\n  a:\n    command: x\n    outputs: [build/x.txt]\n", "give each entry a name: {x: build/x.txt}"),
    ],
)
def test_a_value_where_a_mapping_belongs_says_how_to_write_one(tmp_path, text, hint):
    # Only a list got a hint (naming its entries), and a list at the top level got that one
    # too: `- a` was to be written `{a: a}`. A value (`steps: hello`, `train: python x.py`)
    # got none.
    (tmp_path / "Pipefile").write_text(text)
    (e,) = validation_errors(tmp_path)
    assert "must be a mapping (key: value)" in e.message
    assert hint in (e.hint or ""), e.render()


@pytest.mark.parametrize(
    "text, hint",
    [
        ("steps:\n  a:\n    command: *nope\n", "define the anchor (&NAME)"),
        ("steps:\n  a: &x {command: a}\n  b: &x {command: b}\n", "a name of its own"),
        ("steps:\n  a: {command: a}\n---\nsteps: {}\n", "remove the '---' line"),
        ('steps:\n  a:\n    command: "echo\n', "close the quote"),
        ("steps:\n  a:\n    command: `echo`\n", "quote the value"),
        ("steps:\n  a:\n    command: @echo\n", "quote the value"),
        ('steps:\n  a: {command: "C:\\q"}\n', "write \\\\ for a backslash"),
        ("%YAML 2.0\n---\nsteps:\n  a: {command: x}\n", "remove the %YAML line"),
    ],
)
def test_a_yaml_syntax_error_says_how_to_fix_it(tmp_path, text, hint):
    # Only flow brackets, ': ' in a value, tabs and indentation got a hint; these said what
    # libyaml found and nothing more.
    (tmp_path / "Pipefile").write_text(text)
    (e,) = validation_errors(tmp_path)
    assert e.message.startswith("invalid YAML: ") and e.loc.line, e.render()
    assert hint in (e.hint or ""), e.render()


def test_a_pipefile_link_that_loops_is_not_called_a_permission_problem(repo):
    # `Pipefile -> Pipefile` (or a -> b -> a): the hint said to check the file's permissions.
    (repo.root / "Pipefile").symlink_to("Pipefile")
    r = repo.pipe("validate")
    assert r.code == 2, str(r)
    assert "cannot read: Too many levels of symbolic links" in r.err
    assert "leads back to itself" in r.err and "permissions" not in r.err, str(r)


def _pipefile_chain(root, n: int) -> None:
    """n Pipefiles, each using the next as a component (d0/Pipefile, d0/d1/Pipefile, ...)."""
    folder = root
    for i in range(n - 1):
        (folder / "Pipefile").write_text(f"steps:\n  s:\n    component: ./d{i}\n")
        folder = folder / f"d{i}"
        folder.mkdir()
    (folder / "Pipefile").write_text("steps:\n  s:\n    command: echo\n")


def _component_chain(n: int) -> str:
    """A Pipefile of n `type: pipeline` components, each using the next."""
    lines = ["components:"]
    for i in range(n):
        use = f"component: p{i + 1}" if i < n - 1 else "command: echo"
        lines += [f"  p{i}:", "    type: pipeline", "    steps:", f"      s: {{{use}}}"]
    return "\n".join(lines + ["steps:", "  top: {component: p0}", ""])


def test_pipelines_nested_past_the_bound_are_refused_not_a_crash(tmp_path, repo):
    # Reading a pipeline component recursed into the next: ~200 Pipefiles, or ~330 components
    # of one file, each using the next, crashed the load with RecursionError (exit 70).
    _pipefile_chain(tmp_path, 51)
    assert validation_errors(tmp_path) == []  # (50 levels: the bound, allowed)
    (tmp_path / "Pipefile").rename(tmp_path / "inner.yaml")
    (tmp_path / "Pipefile").write_text("steps:\n  top:\n    component: ./inner.yaml\n")
    (e,) = validation_errors(tmp_path)
    assert "a pipeline nested 51 deep: pipelines used as components nest at most 50 deep" in e.message
    assert e.loc.line == 3 and e.hint, e.render()

    repo.pipefile(_component_chain(400))
    r = repo.pipe("validate")
    assert r.code == 2 and "internal error" not in r.err, str(r)
    assert "nest at most 50 deep" in r.err
    deep = tmp_path / "deep"
    deep.mkdir()
    _pipefile_chain(deep, 400)
    r = repo.pipe("validate", "-f", str(deep / "Pipefile"))
    assert r.code == 2 and "internal error" not in r.err, str(r)


def test_an_output_may_not_reach_a_components_pipefile_through_a_link(repo):
    # The same as above, through a link to its folder: the links check guarded the top
    # Pipefile only.
    repo.write("sub/Pipefile", NESTED)
    (repo.root / "alias").symlink_to("sub")
    repo.pipefile(
        """\
        steps:
          t:
            component: ./sub
            outputs: {o: out.txt}
          w:
            command: echo x > ${{outputs.o}}
            outputs: {o: alias/Pipefile}
        """
    )
    found = _messages(repo.root)
    assert len(found) == 1, found
    assert found[0][0] == "Pipefile:7:18"
    assert "through the link 'alias' -> 'sub': that is 'sub/Pipefile', a file the pipeline is read from" in found[0][1]


def test_an_undeclared_param_in_a_pipefile_used_as_a_component_is_its_error(repo):
    # The nested Pipefile's error was found, and then its partial spec was turned into a
    # component reading pf.params[NAME] of the param it lacks: KeyError, exit 70.
    repo.write(
        "sub/Pipefile",
        "steps:\n  s:\n    command: echo ${{params.x}} > ${{outputs.o}}\n"
        "    outputs:\n      o: {path: o.txt, output: true}\n",
    )
    repo.pipefile("steps:\n  t:\n    component: ./sub\n    outputs: {o: out.txt}\n")
    found = _messages(repo.root)
    assert found == [
        (
            "sub/Pipefile:3:19",
            "the command of step 's' uses ${{params.x}}, but there is no param 'x'",
            "declare it under params: at the top of the Pipefile",
        )
    ], found
    r = repo.pipe("validate")
    assert r.code == 2 and "internal error" not in r.err, str(r)


def test_a_pipefile_used_by_many_steps_is_read_once(repo):
    # Each use read and parsed the file again (2,000 uses: 2,000 parses) and reported its
    # errors again, once per use.
    repo.write("sub/Pipefile", "steps:\n  s:\n    command: echo ${{params.x}}\n")
    repo.pipefile("steps:\n" + "".join(f"  t{i}:\n    component: ./sub\n" for i in range(3)))
    found = _messages(repo.root)
    assert [m[1] for m in found] == ["the command of step 's' uses ${{params.x}}, but there is no param 'x'"], found
    repo.write(
        "sub/Pipefile",
        "steps:\n  s:\n    command: echo hi > ${{outputs.o}}\n    outputs:\n      o: {path: o.txt, output: true}\n",
    )
    repo.pipefile(
        "steps:\n" + "".join(f"  t{i}:\n    component: ./sub\n    outputs: {{o: o{i}.txt}}\n" for i in range(3))
    )
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    assert [repo.read(f"o{i}.txt") for i in range(3)] == ["hi\n"] * 3
