"""`pipe report` of failed steps as they really fail: the page must show where the error is."""

from __future__ import annotations

from workspace_repo import Repo


def test_a_failed_steps_last_line_longer_than_the_tail_read_is_shown(repo: Repo):
    # The page reads a log's last 64 KiB and dropped the first line read (it may start
    # mid-line): a step whose last line is longer than that (a dump, a progress bar without
    # carriage returns) showed "the last 0 lines" and none of its error. Its end is shown.
    repo.pipefile(
        """\
        steps:
          s:
            command: python3 -c "import sys; print('x' * 100000 + ' ValueError the real error'); sys.exit(1)"
            outputs: {o: o.txt}
        """
    )
    assert repo.pipe("run").code == 1
    html = repo.pipe("report", "last", "-o", "-", check=True).out
    assert "x ValueError the real error" in html
    md = repo.pipe("report", "last", "--format", "markdown", "-o", "-", check=True).out
    assert "the last 0 lines" not in md and "x ValueError the real error" in md, md[-500:]


def test_an_output_path_ending_in_a_slash_is_refused_not_written_as_a_file(repo: Repo):
    # `-o r.md/` names a folder; the slash was dropped and an HTML page written to a file
    # named r.md (the format read from a name that did not end in .md), exit 0.
    repo.pipefile(
        """\
        steps:
          s:
            command: echo ok > ${{outputs.o}}
            outputs: {o: o.txt}
        """
    )
    repo.pipe("run", check=True)
    for out in ("r.md/", "new/"):
        r = repo.pipe("report", "last", "-o", out)
        assert r.code == 2 and f"'{out}' names a folder" in r.err and "hint:" in r.err, str(r)
        assert not repo.exists(out.rstrip("/")), out


def test_artifact_sizes_are_in_the_units_of_every_other_command():
    # Was: `pipe artifacts` said 1.5 KiB where gc, verify, push and envs say 1.5 KB.
    from pipefile.report.artifacts import format_size
    from pipefile.report.text import size

    for n in (0, 999, 1500, 2_500_000, 7 * 10**9):
        assert format_size(n) == size(n)
    assert format_size(1500) == "1.5 KB" and format_size(None) == "0 B"


def test_json_output_is_json_for_a_param_that_is_not_a_finite_number(repo):
    # Was: `pipe jobs show --json` wrote NaN and Infinity (json.dumps' default), which JSON
    # parsers refuse; such a number is its text now, as the designer and sweep show write it.
    import json

    def strict(text: str):
        def refuse(name):
            raise ValueError(f"not JSON: {name}")

        return json.loads(text, parse_constant=refuse)

    repo.pipefile("""
        version: 1
        params: {x: .nan, y: .inf}
        steps:
          a: {command: 'echo ${{params.x}} > ${{outputs.o}}', outputs: {o: a.txt}}
    """)
    assert repo.pipe("run").code == 0
    assert repo.pipe("run", "-p", "x=1").code == 0
    shown = strict(repo.pipe("jobs", "show", "1", "--json").out)
    assert shown["params"] == {"x": "nan", "y": "inf"}, shown
    diff = strict(repo.pipe("params", "diff", "1", "2", "--json").out)
    assert {d["name"]: d["a"] for d in diff["diff"]} == {"x": "nan", "y": "inf"}, diff
