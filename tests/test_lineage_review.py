"""`pipe lineage` of pipelines shaped as real ones grow: steps that read one step's output
by two ways (diamonds), one after another, and long chains. Real runs, the real CLI."""

from __future__ import annotations

from workspace_repo import Repo


def _ladder(n: int) -> str:
    """Step i reads the outputs of steps i-1 and i-2: every step but the last two is shared."""
    lines = [
        "version: 1",
        "steps:",
        "  s0: {command: 'echo 0 > ${{outputs.o}}', outputs: {o: b/0}}",
        "  s1: {command: 'echo 1 > ${{outputs.o}}', outputs: {o: b/1}}",
    ]
    for i in range(2, n):
        lines += [
            f"  s{i}:",
            f"    command: cat ${{{{inputs.a}}}} ${{{{inputs.b}}}} | head -c 50 > ${{{{outputs.o}}}}; echo {i} >> ${{{{outputs.o}}}}",
            f'    inputs: {{a: "${{{{steps.s{i - 1}.outputs.o}}}}", b: "${{{{steps.s{i - 2}.outputs.o}}}}"}}',
            f"    outputs: {{o: b/{i}}}",
        ]
    return "\n".join(lines) + "\n"


def _steps(node: dict, out: list) -> list:
    s = node.get("produced_by")
    if s is not None:
        out.append(s)
        for inp in s["inputs"].values():
            if inp.get("type") == "data":
                _steps(inp, out)
    return out


def test_lineage_json_writes_a_shared_step_in_full_until_the_tree_is_large(repo: Repo):
    # A step whose output two later steps read is written out in full under each of them (the
    # JSON consumers walk): so a ladder of n steps held fib(n) step nodes (20 steps: 59 MB; 35:
    # no end in sight). Past 10,000 step nodes a step met again is written "shown_above": true
    # with no inputs; one met for the first time is still whole.
    n = 8
    repo.pipefile(_ladder(n))
    repo.pipe("run", check=True)
    tree = repo.pipe("lineage", f"b/{n - 1}", "--json", check=True).json
    steps = _steps(tree, [])
    assert not any(s.get("shown_above") for s in steps) and len(steps) > 2 * n  # (each diamond whole)
    n = 32
    repo.pipefile(_ladder(n))
    repo.pipe("run", check=True)
    r = repo.pipe("lineage", f"b/{n - 1}", "--json", check=True, timeout=120)
    steps = _steps(r.json, [])
    full = [s["step"] for s in steps if not s.get("shown_above")]
    assert set(full) == {f"s{i}" for i in range(n)} and len(full) <= 10_000 + n, len(full)
    again = [s for s in steps if s.get("shown_above")]
    assert again and all(s["inputs"] == {} and s["command"] for s in again)
    assert len(r.out) < 50_000_000
    text = repo.pipe("lineage", f"b/{n - 1}", check=True).out
    assert text.count(", ran\n") == n, text


def test_lineage_of_a_long_chain_stops_deep_down_instead_of_crashing(repo: Repo):
    # Each step is a few frames of recursion while the tree is built and levels of nesting in
    # the JSON: a chain of 350 steps ended `pipe lineage --json` with a RecursionError (exit
    # 70), 500 the text too. The tree now stops 100 steps deep, at a data node that says
    # which step made it and how to go on ("cut": true in JSON).
    n = 360
    lines = ["version: 1", "steps:", "  s0: {command: 'echo 0 > ${{outputs.o}}', outputs: {o: b/0}}"]
    for i in range(1, n):
        lines += [
            f"  s{i}:",
            f"    command: echo {i} > ${{{{outputs.o}}}}",
            f'    inputs: {{a: "${{{{steps.s{i - 1}.outputs.o}}}}"}}',
            f"    outputs: {{o: b/{i}}}",
        ]
    repo.pipefile("\n".join(lines) + "\n")
    repo.pipe("run", check=True, timeout=300)
    tree = repo.pipe("lineage", f"b/{n - 1}", "--json", check=True).json
    steps = _steps(tree, [])
    assert [s["step"] for s in steps] == [f"s{i}" for i in range(n - 1, n - 101, -1)]
    cut = steps[-1]["inputs"]["a"]
    assert cut["cut"] is True and cut["path"] == f"b/{n - 101}" and cut["produced_by"] is None
    assert f"`pipe lineage b/{n - 101}` goes on from here" in cut["note"]
    text = repo.pipe("lineage", f"b/{n - 1}", check=True).out
    assert text.count(", ran\n") == 100
    assert f"b/{n - 101}" in text and f"made by step 's{n - 101}' in job 1; the lineage stops 100 steps deep" in text
    rest = repo.pipe("lineage", f"b/{n - 101}", "--json", check=True).json  # and it does go on
    assert rest["produced_by"]["step"] == f"s{n - 101}"
    for fmt in ("mermaid", "dot"):
        assert repo.pipe("lineage", f"b/{n - 1}", "--format", fmt).code == 0


def test_lineage_of_a_recent_output_reads_the_recent_jobs_not_the_whole_history(tmp_path):
    # Lineage found the step that made each node by reading every step row of the history
    # (a LIKE over each row's outputs, then sorted): 1.9 s on 5,000 jobs of 200 steps for a
    # two-step chain, growing with the history. The newest jobs are looked at first, and an
    # input made in the same job is found among that job's rows. Counted here in SQLite's
    # virtual-machine steps (real file, no clock: the machine may be busy).
    import json
    import time

    from pipefile.jobdb.jobs import JobStore
    from pipefile.jobdb.records import JobStep
    from pipefile.lineage import Lineage

    store = JobStore(str(tmp_path / "jobs.db"))
    store.db.execute("BEGIN")
    store.db.executemany(
        "INSERT INTO jobs(id, uid, experiment, status, started, pipefile, pipefile_digest) VALUES(?,?,?,?,?,?,?)",
        [(i, f"{i:08x}", "e", "succeeded", 0.0, "Pipefile", "d") for i in range(1, 2001)],
    )
    old = json.dumps({"o": {"path": "old.txt", "kind": "file", "digest": "0" * 32, "size": 1}})
    store.db.executemany(
        "INSERT INTO job_steps(job_id, step, outcome, inputs, outputs, finished) VALUES(?,?,?,?,?,?)",
        [(i, f"s{n}", "ran", "{}", old, 0.0) for i in range(1, 2001) for n in range(50)],
    )
    store.db.execute("COMMIT")
    a, b = "a" * 32, "b" * 32
    job = store.begin("e", "Pipefile", "d", {}, {}, [], [], None, None, "me")
    made = {"o": {"path": "a.txt", "kind": "file", "digest": a, "size": 1}}
    store.record_steps(
        [
            JobStep(job.id, "first", "ran", "k1", None, "make a", {}, made, 0.1, 0, None, None, time.time()),
            JobStep(
                job.id,
                "second",
                "ran",
                "k2",
                None,
                "make b",
                {"i": {"path": "a.txt", "kind": "file", "digest": a, "size": 1}},
                {"o": {"path": "b.txt", "kind": "file", "digest": b, "size": 1}},
                0.1,
                0,
                None,
                None,
                time.time(),
            ),
        ]
    )
    steps = []
    store.db.set_progress_handler(lambda: steps.append(1), 1000)  # once per 1,000 VM steps
    node = Lineage(store).of_output("b.txt", {"kind": "file", "digest": b, "size": 1})
    store.db.set_progress_handler(None, 0)
    assert node["produced_by"]["step"] == "second", node
    assert node["produced_by"]["inputs"]["i"]["produced_by"]["step"] == "first", node
    # Reading the 100,000 rows took 1,000 of these (each lookup); the two lookups now take ~20.
    assert len(steps) < 300, len(steps)
    # A later no-op: its fresh steps lead, by their key, to the job where they ran (that lookup
    # read every step row too: the index by step and key answers it).
    noop = store.begin("e", "Pipefile", "d", {}, {}, [], [], None, None, "me")
    store.record_steps(
        [
            JobStep(noop.id, "first", "fresh", "k1", None, "make a", {}, made, 0.0, None, None, None, time.time()),
            JobStep(
                noop.id,
                "second",
                "fresh",
                "k2",
                None,
                "make b",
                {"i": {"path": "a.txt", "kind": "file", "digest": a, "size": 1}},
                {"o": {"path": "b.txt", "kind": "file", "digest": b, "size": 1}},
                0.0,
                None,
                None,
                None,
                time.time(),
            ),
        ]
    )
    steps.clear()
    store.db.set_progress_handler(lambda: steps.append(1), 1000)
    node = Lineage(store).of_output("b.txt", {"kind": "file", "digest": b, "size": 1})
    store.db.set_progress_handler(None, 0)
    assert (node["produced_by"]["job"], node["produced_by"]["outcome"]) == (job.id, "ran"), node
    assert node["produced_by"]["inputs"]["i"]["produced_by"]["step"] == "first", node
    assert len(steps) < 300, len(steps)
    store.close()
