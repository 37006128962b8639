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


def test_a_job_with_many_metrics_and_steps_makes_a_page_that_opens(repo: Repo):
    # 200,000 metrics made a 47 MB page (3 s and 400 MB to write) and a Markdown comment far
    # past what a pull request takes. Each table shows its first rows (HTML 2,000, Markdown
    # 200), a failed step always among them, and says how many it left out and what lists them.
    repo.write(
        "gen.py",
        "import json, sys\n"
        "json.dump({f'm{i:05d}': i * float(sys.argv[2]) for i in range(5000)}, open(sys.argv[1], 'w'))\n",
    )
    steps = "\n".join(
        f"  s{i}:\n    command: {'exit 3' if i == 2400 else 'touch ${{outputs.o}}'}\n    outputs: {{o: build/s{i}}}"
        for i in range(2500)
    )
    repo.write(
        "Pipefile",
        "version: 1\nparams: {f: 0.5}\nsteps:\n"
        "  m:\n    command: python3 gen.py ${{outputs.m}} ${{params.f}}\n    code: [gen.py]\n"
        "    outputs: {m: build/m.json}\n    metrics: [build/m.json]\n" + steps + "\n",
    )
    assert repo.pipe("run", "--keep-going", "-q").code == 1
    assert repo.pipe("run", "--keep-going", "-q", "-p", "f=0.25").code == 1
    html = repo.pipe("report", "last", "-o", "-", check=True).out
    assert len(html) < 2_000_000, len(html)
    assert "3,000 more metrics are left out of this page: `pipe metrics show 2 --json` lists them all" in html
    assert "2,999 more changed metrics are left out of this page: `pipe metrics diff 1 2` lists them all" in html
    assert "501 more steps are left out of this page: `pipe jobs show 2` lists them all" in html
    assert '<tr data-row="s2400"><td class="mono">s2400</td><td>failed</td>' in html  # (past the first 2,000)
    md = repo.pipe("report", "last", "--format", "markdown", "-o", "-", check=True).out
    assert len(md) < 65_536, len(md)
    assert "4,800 more metrics are left out of this page: `pipe metrics show 2 --json` lists them all" in md
    assert "| s2400 | failed |" in md
