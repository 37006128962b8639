"""The designer's job list in a real browser (Debian's Chromium, Playwright for Python) on a real
`pipe ui` over a workspace with several recorded jobs: its filters (experiment, status) show
exactly the jobs that match, as `pipe jobs -e/--status` selects them. Skipped with the reason
where Chromium or Playwright is missing (failed in CI)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from workspace_repo import PIPE

PIPEFILE = """\
params:
  fail: 0
  n: 1
steps:
  work:
    command: test ${{params.fail}} = 0 && echo ${{params.n}} > out.txt
    outputs: {out: out.txt}
  slow:
    command: touch started && sleep ${{params.n}} && cp ${{inputs.o}} slow.txt
    inputs: {o: "${{steps.work.outputs.out}}"}
    outputs: {s: slow.txt}
"""


def interrupted_job(repo, *args: str) -> None:
    """A run killed while a step runs: its job is recorded `interrupted`."""
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    started = repo.root / "started"
    started.unlink(missing_ok=True)
    p = subprocess.Popen(
        PIPE + ["run", *args],
        cwd=repo.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while not started.exists():
        assert time.time() < deadline, "the slow step never started"
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()


def shown(pg) -> list:
    return pg.eval_on_selector_all("[data-job]", "rows => rows.map(r => r.dataset.job)")


def settled(pg, want: list) -> list:
    """The rows once they are `want` (or, after 10 s, whatever they are)."""
    deadline = time.monotonic() + 10
    rows = shown(pg)
    while sorted(rows) != sorted(want) and time.monotonic() < deadline:
        time.sleep(0.1)
        rows = shown(pg)
    return rows


def test_the_job_list_s_experiment_and_status_filters_show_exactly_the_matching_jobs(opened, repo):
    repo.pipefile(PIPEFILE)
    repo.pipe("run", "-e", "alpha", check=True)
    assert repo.pipe("run", "-e", "beta", "-p", "fail=1").code == 1
    repo.pipe("run", "-e", "beta", "-p", "n=2", check=True)
    interrupted_job(repo, "-e", "alpha", "-p", "n=30")
    jobs = repo.pipe("jobs", "--all", "--json", check=True).json["jobs"]
    by = {str(j["id"]): (j["experiment"], j["status"]) for j in jobs}
    assert sorted(s for _e, s in by.values()) == ["failed", "interrupted", "succeeded", "succeeded"], by

    def expected(experiment: str = "", status: str = "") -> list:
        return [i for i, (e, s) in by.items() if (not experiment or e == experiment) and (not status or s == status)]

    pg = opened()
    pg.click("text=Jobs")
    pg.wait_for_selector("[data-testid=jobs-page] [data-job]")
    assert sorted(settled(pg, expected())) == sorted(expected())
    # newest first
    assert shown(pg) == sorted(by, key=int, reverse=True)
    # every status a job can have is offered, each showing its jobs only
    offered = pg.eval_on_selector_all("[data-testid=filter-status] option", "os => os.map(o => o.value)")
    assert set(offered) >= {"", "queued", "running", "succeeded", "failed", "interrupted", "canceled"}, offered
    assert "cancelled" not in offered  # no job is ever recorded so
    for status in ("succeeded", "failed", "interrupted", "running", "canceled"):
        pg.select_option("[data-testid=filter-status]", status)
        assert sorted(settled(pg, expected(status=status))) == sorted(expected(status=status)), status
        if not expected(status=status):
            assert "no jobs match" in pg.inner_text("[data-testid=jobs-page]")
    pg.select_option("[data-testid=filter-status]", "")
    for experiment in ("alpha", "beta"):
        pg.select_option("[data-testid=filter-experiment]", experiment)
        assert sorted(settled(pg, expected(experiment))) == sorted(expected(experiment)), experiment
    # both at once
    pg.select_option("[data-testid=filter-status]", "succeeded")
    assert sorted(settled(pg, expected("beta", "succeeded"))) == sorted(expected("beta", "succeeded"))
    pg.select_option("[data-testid=filter-experiment]", "alpha")
    assert sorted(settled(pg, expected("alpha", "succeeded"))) == sorted(expected("alpha", "succeeded"))
    # and back to all
    pg.select_option("[data-testid=filter-experiment]", "")
    pg.select_option("[data-testid=filter-status]", "")
    assert sorted(settled(pg, expected())) == sorted(expected())


MANY_THEN_SLOW = """\
steps:
  fit:
    command: echo ${{inputs.a}} > ${{outputs.o}}
    matrix: {a: [%s]}
    inputs: {a: {type: number}}
    outputs: {o: build/fit}
  slow:
    command: touch started && sleep 120 && ls ${{inputs.i}} > ${{outputs.o}}
    inputs: {i: "${{steps.fit.outputs.o}}"}
    outputs: {o: build/slow.txt}
"""


def test_a_running_job_s_page_loads_the_job_once_for_a_burst_of_step_events(opened, repo):
    # The page reloaded the whole job for each step event: opened on a running job whose
    # 1,500 tasks had ended, the stream's 1,500 events were 1,500 loads of 1.4 MB (20 s of
    # server CPU); here 300 tasks were 300 loads. Now a burst is one load, then one more.
    repo.pipefile(MANY_THEN_SLOW % ", ".join(str(i) for i in range(300)))
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    run = subprocess.Popen(
        PIPE + ["run"],
        cwd=repo.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        while not (repo.root / "started").exists():
            assert time.time() < deadline and run.poll() is None, "the slow step never started"
            time.sleep(0.1)
        pg = opened()
        loads: list = []
        pg.on("request", lambda r: loads.append(r.url) if r.url.endswith("/api/jobs/1") else None)
        pg.goto(pg.url.split("#")[0] + "#/jobs/1")
        pg.wait_for_selector("[data-testid=job-page][data-status=running]")
        pg.wait_for_selector("[data-row='fit[a=299]']")
        pg.wait_for_timeout(3000)  # the stream's 300 step events and a poll or two
        assert len(loads) <= 6, f"{len(loads)} loads of the job"
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()


CHATTY = """\
steps:
  chatty:
    command: touch waiting && while [ ! -e go ]; do sleep 0.05; done && python -c "import sys; sys.stdout.write(''.join('line %06d of a chatty step\\\\n' % i for i in range(200000)))" && sleep 120
"""


def test_a_chatty_step_s_log_keeps_the_page_responsive_and_shows_its_newest_lines(opened, repo):
    # The log panel added each line to a copy of all the lines before it, one render a line:
    # a step printing 30,000 lines a second froze the page for tens of seconds at a time
    # (heap past 300 MB). Now it renders in batches and keeps the newest 20,000 lines.
    repo.pipefile(CHATTY)
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    run = subprocess.Popen(
        PIPE + ["run"],
        cwd=repo.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while not (repo.root / "waiting").exists():
            assert time.time() < deadline and run.poll() is None, "the step never started"
            time.sleep(0.1)
        pg = opened()
        pg.goto(pg.url.split("#")[0] + "#/jobs/1")
        pg.click("[data-row=chatty]")
        pg.wait_for_selector("[data-testid=log]")
        (repo.root / "go").write_text("")  # printed while the page follows the log
        last = "line 199999 of a chatty step"
        pg.wait_for_function(
            f"() => (document.querySelector('[data-testid=log]')?.textContent ?? '').endsWith({last!r})"
        )
        text = pg.inner_text("[data-testid=log]")
        lines = text.split("\n")
        assert len(lines) <= 20_001, len(lines)
        assert lines[0].startswith("[") and "not shown here" in lines[0], lines[0]
        t0 = time.monotonic()
        pg.evaluate("1")
        assert time.monotonic() - t0 < 2  # (the page answers: it is not busy with the log)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()


def test_a_long_history_s_list_says_older_jobs_are_not_shown_and_offers_every_experiment(opened, repo):
    # With 5,000 jobs the page lists the newest 500 and said nothing of the rest, and its
    # experiment filter offered only the experiments of those 500: an experiment whose jobs
    # were all older could not be chosen.
    import sqlite3

    repo.pipefile(PIPEFILE)
    repo.pipe("run", "-e", "old-study", check=True)
    db = sqlite3.connect(repo.root / ".pipe" / "jobs.db")
    job = db.execute("SELECT * FROM jobs WHERE id=1").fetchone()
    for i in range(2, 601):
        db.execute(f"INSERT INTO jobs VALUES ({','.join('?' * len(job))})", (i, f"{i:08x}", "recent", *job[3:]))
    db.commit()
    db.close()
    pg = opened()
    pg.click("text=Jobs")
    pg.wait_for_selector("[data-testid=jobs-page] [data-job]")
    assert len(shown(pg)) == 500
    assert "the newest 500 jobs are shown" in pg.inner_text("[data-testid=jobs-more]")
    offered = pg.eval_on_selector_all("[data-testid=filter-experiment] option", "os => os.map(o => o.value)")
    assert "old-study" in offered, offered
    pg.select_option("[data-testid=filter-experiment]", "old-study")
    assert settled(pg, ["1"]) == ["1"]
    assert pg.locator("[data-testid=jobs-more]").count() == 0


OUTPUTS = """\
steps:
  make:
    command: >-
      python -c "import os; open('${{outputs.table}}', 'w').write('a,b\\\\n' + ''.join('%d,%d\\\\n' % (i, i) for i in range(80)));
      open('${{outputs.text}}', 'w').write('x' * 300000); open('${{outputs.picture}}', 'wb').write(os.urandom(3000000))"
    outputs: {table: build/t.csv, text: build/big.txt, picture: build/p.png}
"""


def test_an_output_preview_says_what_it_leaves_out_and_why(opened, repo):
    # The server says a preview is cut (`truncated`) and why a file is not shown as its kind
    # (`note`: an image over 2 MiB, Parquet without pyarrow), and the page showed neither: the
    # first 50 rows looked like the whole table, 256 KiB like the whole text.
    repo.pipefile(OUTPUTS)
    repo.pipe("run", check=True)
    pg = opened()
    pg.goto(pg.url.split("#")[0] + "#/jobs/1")
    pg.click("[data-row=make]")
    assert pg.inner_text("[data-testid=preview-note-table]") == "only the first 50 rows of 464 bytes shown"
    assert pg.inner_text("[data-testid=preview-note-text]") == "only the start of 293.0 KiB shown"
    assert "over 2 MiB" in pg.inner_text("[data-testid=preview-note-picture]")
