"""A step's log is made while the step before it runs (cache/tempnames.stock) and renamed into
place when the step starts: the logs must read as if each were opened when its step started
(mode, content), nothing made ahead may be left behind, and a series streamed next to a log
must be the try's own (a retry's, or a job folder an earlier job of the same number left)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

from workspace_repo import PIPE, Repo

CHAIN = """\
version: 1
steps:
{steps}
"""


def _chain(n: int) -> str:
    steps = []
    for i in range(n):
        read = f"\n    inputs: {{i: build/s{i - 1}.txt}}" if i else ""
        src = "${{inputs.i}}" if i else "/dev/null"
        steps.append(
            f"  s{i}:\n    command: echo said-s{i}; cat {src} > ${{{{outputs.o}}}}; echo s{i} >> ${{{{outputs.o}}}}"
            f"{read}\n    outputs: {{o: build/s{i}.txt}}"
        )
    return CHAIN.format(steps="\n".join(steps))


def test_logs_made_ahead_read_as_opened_and_leave_nothing(repo: Repo):
    repo.pipefile(_chain(6))
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    p = subprocess.run(
        PIPE + ["run", "-j", "2"],
        cwd=repo.root,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(0o027),
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    folder = repo.root / ".pipe" / "jobs" / "1"
    logs = sorted(folder.glob("*.log"))
    assert [f.name for f in logs] == [f"s{i}.log" for i in range(6)]
    for i, f in enumerate(logs):
        assert f.read_text() == f"said-s{i}\n"
        assert stat.S_IMODE(f.stat().st_mode) == 0o640, f  # what open() makes under umask 027
    assert [f.name for f in folder.iterdir() if f.name.startswith(".")] == []
    tmp = repo.root / ".pipe" / "store" / "tmp"
    assert [f.name for f in tmp.iterdir()] == [] if tmp.exists() else True


FLAKY = """\
version: 1
steps:
  each:
    foreach: {over: "${{inputs.d}}", retries: 1, max_parallel: 1}
    inputs: {d: data}
    command: >-
      n=$(basename ${{inputs.d}});
      if [ ! -e tries/$n ]; then mkdir -p tries; touch tries/$n;
      echo '{"name": "x", "value": 1, "step": 0}' >> "$PIPE_METRICS_STREAM"; exit 3; fi;
      echo '{"name": "x", "value": 2, "step": 5}' >> "$PIPE_METRICS_STREAM";
      cp ${{inputs.d}} ${{outputs.out}}
    outputs: {out: build/out/}
"""


def _series(repo: Repo, metric: str) -> list:
    r = repo.pipe("metrics", "curve", "last", metric, "--json", check=True)
    return [(p["step"], p["value"]) for p in r.json["points"]]


def test_a_retry_records_only_its_own_series(repo: Repo):
    repo.pipefile(FLAKY)
    repo.write("data/a.txt", "a\n")
    assert repo.outcomes() == {"each[a.txt]": "ran"}
    assert _series(repo, "each[a.txt].x") == [(5, 2.0)]  # not the failed try's point too


STREAMS = """\
version: 1
steps:
  s0:
    command: >-
      {stream} echo done > ${{{{outputs.o}}}}
    outputs: {{o: build/s0.txt}}
"""


def test_a_job_folder_left_behind_lends_no_series(repo: Repo):
    repo.pipefile(STREAMS.format(stream="""echo '{"name": "x", "value": 1}' >> $PIPE_METRICS_STREAM;"""))
    repo.pipe("run", check=True)
    assert _series(repo, "s0.x") == [(0, 1.0)]
    # The job database goes (and the run cache, so the step runs again); the job's folder stays.
    os.unlink(repo.root / ".pipe" / "jobs.db")
    shutil.rmtree(repo.root / ".pipe" / "store")
    repo.pipefile(STREAMS.format(stream="echo again;"))
    assert repo.outcomes() == {"s0": "ran"}
    shown = repo.pipe("metrics", "show", "--json", check=True).json["jobs"][0]
    assert shown["id"] == 1, shown  # the same number: the folder was the earlier job's
    assert "s0.x" not in shown["metrics"], shown


def test_files_made_ahead_and_removed_while_the_command_ran_are_not_used(repo: Repo):
    """The two files a commit writes (an object, a run-cache entry) are made while the command
    runs. A long command can outlive them: the store's sweep of temporaries older than a day,
    run by a job of another workspace sharing the store, removes them (here the command itself
    does). The commit then wrote into removed files and failed the step after its command had
    succeeded; it makes new ones instead."""
    repo.pipefile(
        """\
        version: 1
        steps:
          long:
            command: sleep 0.5; rm -f .pipe/store/tmp/*; echo done > ${{outputs.o}}
            outputs: {o: out.txt}
        """
    )
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    assert repo.read("out.txt") == "done\n"
    assert repo.outcomes() == {"long": "fresh"}
    repo.write("out.txt", "changed by hand\n")
    assert repo.outcomes() == {"long": "restored"}  # (the object and the entry were stored)
    assert repo.read("out.txt") == "done\n"
    assert not os.listdir(repo.root / ".pipe/store/tmp")
