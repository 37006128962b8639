"""Smoke test: the benchmark harness runs end to end at N=10 for pipe (and make, when installed).

No timing is asserted; only that every scenario ran and that the right steps executed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

from benchmarks import run


def test_benchmark_runs_at_n10(tmp_path, capsys):
    tools = "pipe,make" if shutil.which("make") else "pipe"
    code = run.main(
        [
            "--tools",
            tools,
            "--shapes",
            "chain:10",
            "--peer-shapes",
            "",
            "--scaling",
            "",
            "--reps",
            "1",
            "--no-reference",
            "--workdir",
            str(tmp_path / "work"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    assert "### chain-10 (10 steps" in capsys.readouterr().out

    results = json.loads((tmp_path / "out" / "latest.json").read_text())
    (shape,) = results["shapes"]
    assert set(shape["results"]) == set(tools.split(","))
    for tool, res in shape["results"].items():
        assert all(r["error"] is None for r in res.values()), (tool, res)
        assert res["full"]["ran"] == [10], tool
        assert res["noop"]["ran"] == [0], tool
        assert res["status"]["ran"] == [0], tool
        assert res["change"]["ran"] == [1], tool  # the last leaf feeds only the last step
    assert shape["results"]["pipe"]["touch"]["ran"] == [0]  # content, not timestamps
    assert (tmp_path / "out" / "latest.md").read_text().startswith("## Results")


def test_startup_times_commands_in_wall_and_cpu_time(tmp_path):
    # benchmarks/startup.py judges the start-up goal on CPU time (a shared machine stretches
    # wall time): each run's user + system time is taken beside its wall time.
    from benchmarks import startup

    cpu: dict = {}
    wall = startup.time_commands({"pass": [sys.executable, "-c", "pass"]}, str(tmp_path), 2, cpu)
    assert len(wall["pass"]) == len(cpu["pass"]) == 2
    assert all(0 < c < 5 for c in cpu["pass"]) and all(w > 0 for w in wall["pass"])


def test_cputime_times_pipe_and_make_full_runs_and_no_ops(tmp_path, capsys):
    if not shutil.which("make"):
        return
    from benchmarks import cputime

    assert (
        cputime.main(
            ["chain:3", "--pipe", f"this={sys.executable} -m pipefile", "--full-reps", "1", "--noop-reps", "1"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| make |" in out and "| this |" in out


def test_foreach_reuses_a_kept_workspace_and_leaves_it_reusable(tmp_path, capsys):
    from benchmarks import foreach

    work = tmp_path / "fe"
    assert foreach.main(["--files", "4", "--reps", "1", "--keep", "--workdir", str(work)]) == 0
    for _ in range(2):  # twice: the first reuse must leave the workspace as it found it
        assert foreach.main(["--reuse", str(work), "--reps", "1"]) == 0
        out = capsys.readouterr().out
        assert "| first run | - |" in out and "| tasks run after the add | 1 |" in out, out
        assert sorted(os.listdir(work / "pipe" / "data")) == [f"f{i:06d}.txt" for i in range(4)]
        assert not (work / "pipe" / "build" / "out" / foreach.ADDED).exists()


def test_foreach_reports_a_timeout_as_more_than_the_limit():
    from benchmarks import foreach

    got = {"timeout_s": 1200.0, "noop_s": None}
    assert foreach._cell(got, "noop_s", "s") == "> 1200 s" and foreach._cell(got, "added_s", "s") == "-"


def test_steppath_measures_each_stretch_of_a_chain(tmp_path):
    from benchmarks import steppath

    r = steppath.measure(5, str(tmp_path), 1)
    stretches = r["best"]["median_ms"]
    assert set(stretches) == set(steppath.STRETCHES), stretches
    assert all(v >= 0 for v in stretches.values())
    assert "between two commands" in steppath.render(r)


def test_alternate_takes_each_command_and_make_in_turn(tmp_path):
    from benchmarks import alternate

    if not shutil.which("make"):
        return  # (CI installs make: .ci/run)
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = alternate.measure("chain:3", [checkout], 2, str(tmp_path))
    assert set(r["samples"]) == {checkout, "make"}
    assert all(len(runs) == 2 and all(w > 0 for w, _ in runs) for runs in r["samples"].values())
    text = alternate.render(r)
    assert "x make" in text and "make" in text.splitlines()[-1]
    assert os.listdir(tmp_path) == []  # the workspace is removed afterwards
