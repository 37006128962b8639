"""Smoke test: the benchmark harness runs end to end at N=10 for pipe (and make, when installed).

No timing is asserted; only that every scenario ran and that the right steps executed.
"""

from __future__ import annotations

import json
import shutil

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
