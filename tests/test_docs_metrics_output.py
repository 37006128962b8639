"""docs/metrics.md shows `pipe metrics show` and `pipe metrics diff` with their output: three
jobs of one step whose metrics file holds the numbers the tables show. The same jobs made
here print those tables, line for line."""

from __future__ import annotations

import re
from pathlib import Path

from workspace_repo import Repo

DOCS = Path(__file__).resolve().parent.parent / "docs"


def shown(command: str) -> list[str]:
    """The output lines docs/metrics.md shows under `$ COMMAND`."""
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    m = re.search(rf"^\$ {re.escape(command)}\n(.*?)^```", text, re.M | re.S)
    assert m, f"metrics.md no longer shows `{command}`"
    return m.group(1).rstrip("\n").split("\n")


def test_metrics_show_and_diff_print_what_metrics_md_shows(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    repo.pipefile(
        """\
        params: {acc: 0.9, tr: 0.2, val: 0.3}
        steps:
          train:
            command: >-
              printf '{"acc": %s, "loss": {"train": %s, "val": %s}}' ${{params.acc}} ${{params.tr}} ${{params.val}}
              > ${{outputs.scores}}
            outputs: {scores: build/metrics.json}
            metrics: [build/metrics.json]
        """
    )
    for p in ((), ("-p", "acc=0.8", "-p", "tr=0.4"), ("-p", "acc=0.95", "-p", "tr=0.1", "-p", "val=0.15")):
        assert repo.outcomes(*p) == {"train": "ran"}
    for command in ("pipe metrics show 1 3", "pipe metrics diff 1 2"):
        r = repo.pipe(*command.split()[1:])
        assert r.code == 0, str(r)
        assert r.out.rstrip("\n").split("\n") == shown(command), r.out
