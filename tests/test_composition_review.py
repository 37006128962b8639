"""Composition review (matrix, sweep, foreach, pipelines as components, the DSL): faults found
by trying the real CLI, each checked with real `pipe` processes in a temporary workspace."""

from __future__ import annotations


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
