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
