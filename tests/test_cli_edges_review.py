"""The CLI's edges (review cli43): a huge -j under a low open-file limit, `pipe init` inside
an existing workspace, and commands given bad input (exit 2 with the fix, never 70)."""

from __future__ import annotations

import os
import resource
import subprocess

from workspace_repo import PIPE


def _wide(repo, n: int) -> None:
    """`n` independent steps; each counts the steps running beside it (files in running/)."""
    lines = ["version: 1", "steps:"]
    for i in range(n):
        lines += [
            f"  s{i}:",
            f"    command: 'mkdir -p running && touch running/{i} && ls running | wc -l >> counts.txt"
            f" && sleep 0.2 && rm running/{i} && echo {i} > ${{{{outputs.o}}}}'",
            f"    outputs: {{o: build/s{i}.txt}}",
        ]
    repo.write("Pipefile", "\n".join(lines) + "\n", dedent=False)


def test_a_huge_jobs_runs_every_step_within_a_low_open_file_limit(repo):
    # Each running step holds its log and its process's files open: -j 100000 ran all 60 at
    # once and, under `ulimit -n 128`, steps failed with "Too many open files" (exit 1).
    _wide(repo, 60)

    def low_limit() -> None:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, hard))

    env = dict(os.environ, PIPE_PLAIN="1")
    p = subprocess.run(
        PIPE + ["run", "-q", "-j", "100000"],
        cwd=repo.root,
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=low_limit,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert "Too many open files" not in p.stderr
    assert all(repo.read(f"build/s{i}.txt").strip() == str(i) for i in range(60))
    # At most (128 - 64 kept for pipe) / 4 files a step ran at once.
    assert max(int(x) for x in repo.read("counts.txt").split()) <= 16
    # ... and says so, naming what to raise.
    assert "note: -j 100000: at most" in p.stderr and "ulimit -n" in p.stderr, p.stderr
