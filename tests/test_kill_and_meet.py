"""pipe processes that meet (several at once in a workspace or a store), and runs killed at any moment."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from workspace_repo import PIPE

CHAIN = """\
version: 1
steps:
  a:
    command: "python -c \\"import os; os.makedirs('a', exist_ok=True); [open(f'a/{i}.txt','w').write(str(i)*20000) for i in range(300)]\\""
    outputs: {out: a}
  b:
    command: "cat a/*.txt > b.txt"
    inputs: {a: a}
    outputs: {out: b.txt}
  c:
    command: "wc -c b.txt > c.txt"
    inputs: {b: b.txt}
    outputs: {out: c.txt}
"""


def _env(extra=None):
    e = dict(os.environ, PIPE_PLAIN="1")
    e.pop("PIPE_STORE_DIR", None)
    e.update(extra or {})
    return e


def _start(root, *args, env=None):
    return subprocess.Popen(
        PIPE + list(args),
        cwd=root,
        env=_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_two_runs_started_at_once_in_a_new_workspace(repo):
    repo.pipefile(CHAIN)
    ps = [_start(repo.root, "run") for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in ps]
    for p, (out, err) in zip(ps, outs):
        assert p.returncode == 0, (out, err)
        assert "Traceback" not in err and "locked" not in err, err
    assert repo.states() == {"a": "fresh", "b": "fresh", "c": "fresh"}


def _wait_for(path, p, seconds=30):
    deadline = time.time() + seconds
    while not path.exists():
        assert p.poll() is None, p.communicate()
        assert time.time() < deadline
        time.sleep(0.02)


@pytest.mark.parametrize(
    "output, write",
    [
        ("out.txt", "echo partial > out.txt"),  # a file written where it is declared, as make does
        ("out", "mkdir -p out && echo partial > out/p.txt"),  # a folder, likewise
    ],
)
def test_an_output_a_killed_step_began_where_nothing_was_is_removed_not_saved(repo, output, write):
    # The step writes part of its output in place, then waits (until `go` exists; not an input).
    repo.pipefile(
        f"""\
        version: 1
        steps:
          s:
            command: "{write}; touch started; while [ ! -e go ]; do sleep 0.05; done; echo done >> {output if output.endswith(".txt") else output + "/f.txt"}"
            outputs: {{o: {output}}}
        """
    )
    p = _start(repo.root, "run")
    _wait_for(repo.root / "started", p)
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate()
    repo.write("go", "")
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    # What the killed step had begun is not content of the user's: never saved, never listed.
    assert "saved the previous content" not in r.out + r.err, str(r)
    assert repo.pipe("recover").out.strip() == "nothing was saved in this workspace"
    assert repo.states() == {"s": "fresh"}
