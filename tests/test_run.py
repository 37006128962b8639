"""End-to-end behaviour of `pipe run` and `pipe status`, through the real CLI."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest
from workspace_repo import PIPE, Repo

CHAIN = """
version: 1
params:
  greeting: hello
assets:
  raw: {type: uri_file, path: data/raw.txt}
steps:
  upper:
    command: tr a-z A-Z < ${{inputs.src}} > ${{outputs.out}}
    inputs: {src: "${{assets.raw}}"}
    outputs: {out: build/upper.txt}
  count:
    command: wc -l < ${{inputs.src}} | tr -d ' ' > ${{outputs.out}}
    inputs: {src: "${{steps.upper.outputs.out}}"}
    outputs: {out: build/count.txt}
  greet:
    command: printf '%s %s\\n' ${{params.greeting}} "$(cat ${{inputs.n}})" > ${{outputs.out}}
    inputs: {n: "${{steps.count.outputs.out}}"}
    outputs: {out: build/greet.txt}
"""


@pytest.fixture
def chain(repo: Repo) -> Repo:
    repo.write("data/raw.txt", "a\nb\n")
    repo.pipefile(CHAIN)
    return repo


def test_first_run_builds_everything_and_second_run_does_nothing(chain):
    assert chain.outcomes() == {"upper": "ran", "count": "ran", "greet": "ran"}
    assert chain.read("build/upper.txt") == "A\nB\n"
    assert chain.read("build/count.txt") == "2\n"
    assert chain.read("build/greet.txt") == "hello 2\n"
    assert chain.outcomes() == {"upper": "fresh", "count": "fresh", "greet": "fresh"}
    assert set(chain.states().values()) == {"fresh"}


def test_touch_without_content_change_reruns_nothing(chain):
    chain.outcomes()
    time.sleep(0.01)
    os.utime(chain.root / "data/raw.txt")
    assert set(chain.outcomes().values()) == {"fresh"}


def test_content_change_reruns_downstream_and_early_cutoff_stops_it(chain):
    chain.outcomes()
    chain.write("data/raw.txt", "x\ny\n")  # same line count: count's output is unchanged
    assert chain.outcomes() == {"upper": "ran", "count": "ran", "greet": "fresh"}
    assert chain.read("build/upper.txt") == "X\nY\n"
    chain.write("data/raw.txt", "x\ny\nz\n")
    assert chain.outcomes() == {"upper": "ran", "count": "ran", "greet": "ran"}
    assert chain.read("build/greet.txt") == "hello 3\n"


def test_param_change_runs_only_affected_steps_and_revert_restores(chain):
    chain.outcomes()
    assert chain.outcomes("-p", "greeting=hi") == {"upper": "fresh", "count": "fresh", "greet": "ran"}
    assert chain.read("build/greet.txt") == "hi 2\n"
    assert chain.outcomes() == {"upper": "fresh", "count": "fresh", "greet": "restored"}
    assert chain.read("build/greet.txt") == "hello 2\n"
    assert chain.outcomes("-p", "greeting=hi") == {"upper": "fresh", "count": "fresh", "greet": "restored"}


def test_status_explains_reasons_with_old_and_new_digests(chain):
    chain.outcomes()
    chain.write("data/raw.txt", "changed\n")
    r = chain.pipe("status", "--json")
    steps = {s["name"]: s for s in r.json["steps"]}
    assert steps["upper"]["state"] == "run"
    (reason,) = steps["upper"]["reasons"]
    assert reason["kind"] == "input_changed" and reason["subject"] == "data/raw.txt"
    assert reason["old"] != reason["new"]
    assert steps["count"]["state"] == "pending"
    assert steps["count"]["reasons"][0] == {
        "kind": "upstream",
        "subject": "upper",
        "message": "waits for 'upper' to finish first",
    }
    plain = chain.pipe("status").out
    assert "input 'data/raw.txt' changed" in plain


def test_deleted_output_is_restored_not_rerun(chain):
    chain.outcomes()
    os.remove(chain.root / "build/count.txt")
    assert chain.states()["count"] == "restore"
    assert chain.outcomes() == {"upper": "fresh", "count": "restored", "greet": "fresh"}
    assert chain.read("build/count.txt") == "2\n"


def test_hand_edited_output_is_saved_in_the_store_then_restored(chain):
    chain.outcomes()
    chain.write("build/upper.txt", "my precious edit\n")
    r = chain.pipe("run")
    assert r.code == 0, r
    assert "saved the previous content of 'build/upper.txt'" in r.err
    assert chain.read("build/upper.txt") == "A\nB\n"
    saved = chain.read(".pipe/saved.log").split("\t")
    digest = saved[3].strip()
    obj = chain.root / ".pipe/store/objects" / digest[:2] / digest[2:]
    assert obj.read_text() == "my precious edit\n"


def test_code_change_reruns_the_step(repo):
    repo.write("data/in.txt", "1\n")
    repo.write("scripts/double.sh", 'sed \'s/1/11/\' "$1" > "$2"\n')
    repo.pipefile("""
        version: 1
        steps:
          double:
            command: sh scripts/double.sh ${{inputs.src}} ${{outputs.out}}
            inputs: {src: data/in.txt}
            outputs: {out: build/out.txt}
            code: [scripts/double.sh]
    """)
    assert repo.outcomes() == {"double": "ran"}
    assert repo.read("build/out.txt") == "11\n"
    repo.write("scripts/double.sh", 'sed \'s/1/111/\' "$1" > "$2"\n')
    assert repo.states() == {"double": "run"}
    assert repo.outcomes() == {"double": "ran"}
    assert repo.read("build/out.txt") == "111\n"


def test_command_writing_literal_workspace_paths_works_like_make(repo):
    repo.write("src.txt", "content\n")
    repo.pipefile("""
        version: 1
        steps:
          copy:
            command: mkdir -p build && cp src.txt build/copy.txt
            inputs: {src: src.txt}
            outputs: {out: build/copy.txt}
    """)
    assert repo.outcomes() == {"copy": "ran"}
    assert repo.read("build/copy.txt") == "content\n"
    assert repo.outcomes() == {"copy": "fresh"}
    os.remove(repo.root / "build/copy.txt")
    assert repo.outcomes() == {"copy": "restored"}


def test_output_folders_exist_and_are_empty_when_the_step_starts(repo):
    repo.write("in.txt", "x")
    repo.pipefile("""
        version: 1
        components:
          lister:
            inputs: {src: {type: uri_file}}
            outputs: {dir: {type: uri_folder}}
            command: test -d ${{outputs.dir}} && test -z "$(ls -A ${{outputs.dir}})" && test -d build/dir && test -z "$(ls -A build/dir)" && cp ${{inputs.src}} ${{outputs.dir}}/copy.txt && echo ${{inputs.src}} > ${{outputs.dir}}/n$(date +%N).txt
        steps:
          list:
            component: lister
            inputs: {src: in.txt}
            outputs: {dir: build/dir}
    """)
    assert repo.outcomes() == {"list": "ran"}
    assert len(os.listdir(repo.root / "build/dir")) == 2
    assert repo.outcomes("--force") == {"list": "ran"}  # a stale file would fail the emptiness test
    assert len(os.listdir(repo.root / "build/dir")) == 2


def test_failed_step_keeps_previous_output_and_store_stays_consistent(repo):
    repo.write("in.txt", "good\n")
    repo.pipefile("""
        version: 1
        steps:
          s:
            command: cat ${{inputs.src}} > ${{outputs.out}} && grep -q good ${{inputs.src}}
            inputs: {src: in.txt}
            outputs: {out: build/out.txt}
    """)
    assert repo.outcomes() == {"s": "ran"}
    repo.write("in.txt", "bad\n")
    r = repo.pipe("run")
    assert r.code == 1
    assert "exited with status 1" in r.err and "command:" in r.err
    assert repo.read("build/out.txt") == "good\n"
    assert repo.states() == {"s": "run"}
    assert not os.listdir(repo.root / ".pipe/stage") if (repo.root / ".pipe/stage").exists() else True
    repo.write("in.txt", "good\n")
    assert repo.outcomes() == {"s": "fresh"}


def test_targets_select_a_step_and_what_it_needs(chain):
    assert chain.outcomes("count") == {"upper": "ran", "count": "ran"}
    assert not chain.exists("build/greet.txt")
    assert chain.outcomes("build/greet.txt") == {"upper": "fresh", "count": "fresh", "greet": "ran"}


def test_force_all_and_force_one_step(chain):
    chain.outcomes()
    assert chain.outcomes("--force") == {"upper": "ran", "count": "ran", "greet": "ran"}
    # Forced count reruns; its output is identical, so greet is cut off.
    assert chain.outcomes("--force", "count") == {"upper": "fresh", "count": "ran", "greet": "fresh"}
    r = chain.pipe("run", "--force", "cont")
    assert r.code == 2 and "did you mean 'count'" in r.err


def test_dry_run_changes_nothing(chain):
    r = chain.pipe("run", "--dry-run", "--json")
    assert r.code == 0, r
    outcomes = {s["name"]: s["outcome"] for s in r.json["steps"]}
    assert outcomes == {"upper": "would-run", "count": "would-run", "greet": "would-run"}
    assert not chain.exists("build")
    assert chain.outcomes()["upper"] == "ran"


def test_keep_going_runs_independent_steps_after_a_failure(repo):
    repo.pipefile("""
        version: 1
        steps:
          bad: {command: "exit 3", outputs: {o: build/bad.txt}}
          after_bad:
            command: cat ${{inputs.i}} > ${{outputs.o}}
            inputs: {i: "${{steps.bad.outputs.o}}"}
            outputs: {o: build/after.txt}
          good: {command: "echo ok > ${{outputs.o}}", outputs: {o: build/good.txt}}
    """)
    out = repo.run_json("-k", "-j1", expect=1)
    got = {s["name"]: s["outcome"] for s in out["steps"]}
    assert got == {"bad": "failed", "after_bad": "skipped", "good": "ran"}
    assert out["status"] == "failed"
    out = repo.run_json("-j1", expect=1)
    got = {s["name"]: s["outcome"] for s in out["steps"]}
    assert got["bad"] == "failed" and got["good"] == "fresh"


def _interval_overlap(repo, names):
    spans = []
    for n in names:
        start, end = map(float, repo.read(f"build/{n}.txt").split())
        spans.append((start, end))
    spans.sort()
    return any(b[0] < a[1] for a, b in zip(spans, spans[1:]))


PARALLEL = """
version: 1
steps:
{steps}
"""


def _parallel_steps(n, cpus=None):
    lines = []
    for i in range(n):
        res = f"\n    resources: {{cpus: {cpus}}}" if cpus else ""
        lines.append(
            f'  s{i}:\n    command: python -c "import time;a=time.time();time.sleep(0.4);'
            f"open('${{{{outputs.o}}}}','w').write(f'{{a}} {{time.time()}}')\"\n"
            f"    outputs: {{o: build/s{i}.txt}}{res}"
        )
    return PARALLEL.format(steps="\n".join(lines))


def test_independent_steps_run_in_parallel_within_jobs(repo):
    repo.pipefile(_parallel_steps(2))
    repo.outcomes("-j2")
    assert _interval_overlap(repo, ["s0", "s1"])
    repo.outcomes("-j1", "--force")
    assert not _interval_overlap(repo, ["s0", "s1"])


def test_resources_are_not_oversubscribed(repo):
    repo.pipefile(_parallel_steps(2, cpus=2))
    repo.outcomes("-j2")
    assert not _interval_overlap(repo, ["s0", "s1"])


def test_moving_the_workspace_keeps_every_key(chain, tmp_path):
    chain.outcomes()
    moved = Repo(tmp_path / "elsewhere")
    shutil.copytree(chain.root, moved.root, symlinks=True)
    assert set(moved.outcomes().values()) == {"fresh"}


def test_shared_store_restores_in_a_fresh_clone(chain, tmp_path):
    store = tmp_path / "shared-store"
    env = {"PIPE_STORE_DIR": str(store)}
    assert set(chain.outcomes(env=env).values()) == {"ran"}
    clone = Repo(tmp_path / "clone")
    clone.root.mkdir()
    clone.write("data/raw.txt", "a\nb\n")
    clone.pipefile(CHAIN)
    assert clone.outcomes(env=env) == {"upper": "restored", "count": "restored", "greet": "restored"}
    assert clone.read("build/greet.txt") == "hello 2\n"


def test_dag_formats(chain):
    text = chain.pipe("dag").out
    assert "count <- upper" in text
    mermaid = chain.pipe("dag", "--format", "mermaid").out
    assert mermaid.startswith("graph TD") and "-->" in mermaid
    dot = chain.pipe("dag", "--format", "dot").out
    assert dot.startswith("digraph") and '"upper" -> "count"' in dot


def test_argv_commands_run_without_a_shell(repo):
    repo.pipefile("""
        version: 1
        params:
          text: "a b; touch pwned"
        steps:
          echo:
            command: [python, -c, "import sys; open(sys.argv[2], 'w').write(sys.argv[1])", "${{params.text}}", "${{outputs.o}}"]
            outputs: {o: build/echo.txt}
    """)
    assert repo.outcomes() == {"echo": "ran"}
    assert repo.read("build/echo.txt") == "a b; touch pwned"
    assert not repo.exists("pwned")


def test_optional_block_is_dropped_when_its_input_is_unset(repo):
    repo.pipefile("""
        version: 1
        components:
          show:
            inputs:
              seed: {type: integer, optional: true}
            outputs: {o: {type: uri_file}}
            command: echo start $[[--seed ${{inputs.seed}}]] end > ${{outputs.o}}
        steps:
          without: {component: show, outputs: {o: build/without.txt}}
          with: {component: show, inputs: {seed: 7}, outputs: {o: build/with.txt}}
    """)
    repo.outcomes()
    assert repo.read("build/without.txt") == "start end\n"
    assert repo.read("build/with.txt") == "start --seed 7 end\n"


def _start(repo: Repo, *args):
    env = dict(os.environ, PIPE_PLAIN="1")
    return subprocess.Popen(
        PIPE + list(args),
        cwd=repo.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


SLOW = """
version: 1
steps:
  slow:
    command: echo partial > ${{outputs.o}} && touch started && sleep 30 && echo done > ${{outputs.o}}
    inputs: {i: in.txt}
    outputs: {o: build/out.txt}
"""


def _wait_for(path, timeout=20):
    deadline = time.time() + timeout
    while not path.exists():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_ctrl_c_stops_steps_keeps_previous_output_and_exits_130(repo):
    repo.write("in.txt", "1")
    repo.pipefile(SLOW.replace("sleep 30 && ", ""))
    assert repo.outcomes() == {"slow": "ran"}
    (repo.root / "started").unlink()
    repo.write("in.txt", "2")
    repo.pipefile(SLOW)
    p = _start(repo, "run")
    _wait_for(repo.root / "started")
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert repo.read("build/out.txt") == "done\n"  # the previous good output
    assert repo.states() == {"slow": "run"}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except FileNotFoundError:
        return False


def test_kill_9_of_pipe_leaves_a_workspace_the_next_run_fixes(repo):
    repo.write("in.txt", "1")
    repo.pipefile(SLOW.replace("touch started", "echo $$ > started"))
    p = _start(repo, "run")
    _wait_for(repo.root / "started")
    time.sleep(0.1)
    step_pid = int(repo.read("started"))
    os.kill(p.pid, signal.SIGKILL)  # pipe dies; its step lives on, orphaned
    p.communicate()
    assert _alive(step_pid)
    (repo.root / "started").unlink()
    repo.pipefile(SLOW.replace("sleep 30 && ", ""))
    assert repo.outcomes() == {"slow": "ran"}  # the lock of the dead process is taken over
    assert repo.read("build/out.txt") == "done\n"
    assert not _alive(step_pid)  # and its orphaned step was stopped


def test_kill_9_mid_step_puts_the_previous_output_back(repo):
    repo.write("in.txt", "1")
    repo.pipefile(SLOW.replace("sleep 30 && ", ""))
    assert repo.outcomes() == {"slow": "ran"}
    (repo.root / "started").unlink()
    repo.write("in.txt", "2")
    repo.pipefile(SLOW.replace("echo partial > ${{outputs.o}}", "echo partial > build/out.txt"))
    p = _start(repo, "run")
    _wait_for(repo.root / "started")
    os.kill(p.pid, signal.SIGKILL)
    p.communicate()
    assert repo.read("build/out.txt") == "partial\n"  # the killed step's unfinished output
    assert repo.pipe("status").code == 0  # status changes nothing
    repo.write("in.txt", "1")
    repo.pipefile(SLOW.replace("sleep 30 && ", ""))
    r = repo.pipe("run", "--json")
    assert r.json["steps"][0]["outcome"] == "fresh", r  # the old output was put back first
    assert repo.read("build/out.txt") == "done\n"
    assert "saved the previous content" not in r.err


def test_second_pipe_waits_for_the_lock(repo):
    repo.write("in.txt", "1")
    repo.pipefile(SLOW.replace("sleep 30", "sleep 1"))
    p = _start(repo, "run")
    _wait_for(repo.root / "started")
    r = repo.pipe("run", "--json")
    p.communicate(timeout=30)
    assert p.returncode == 0
    assert r.code == 0 and "waiting for another pipe process" in r.err
    assert r.json["steps"][0]["outcome"] == "fresh"


def test_recover_gives_back_a_hand_edited_output(chain):
    chain.outcomes()
    chain.write("build/upper.txt", "my edit\n")
    r = chain.pipe("run")
    assert "pipe recover" in r.err, r
    listing = chain.pipe("recover").out
    digest = listing.split()[1]
    assert "build/upper.txt" in listing
    assert chain.pipe("recover", digest, "-o", "got.txt").code == 0
    assert chain.read("got.txt") == "my edit\n"
    r = chain.pipe("recover", digest, "-o", "got.txt")
    assert r.code == 2 and "already exists" in r.err


def test_make_style_steps_that_differ_only_in_their_output_path_do_not_share_cache_entries(repo):
    repo.pipefile("""
        version: 1
        steps:
          x: {command: 'mkdir -p build && echo $PIPE_STEP > build/$PIPE_STEP.txt', outputs: {o: build/x.txt}}
          y: {command: 'mkdir -p build && echo $PIPE_STEP > build/$PIPE_STEP.txt', outputs: {o: build/y.txt}}
    """)
    repo.outcomes("-j1")
    os.remove(repo.root / "build/x.txt")
    assert repo.outcomes() == {"x": "restored", "y": "fresh"}
    assert repo.read("build/x.txt") == "x\n"


def test_restore_keeps_exec_bits_and_links_like_a_clean_build(repo):
    repo.pipefile("""
        version: 1
        steps:
          tool:
            command: printf '#!/bin/sh\\necho hi\\n' > ${{outputs.t}} && chmod +x ${{outputs.t}}
            outputs: {t: {type: uri_file, path: bin/tool.sh}}
          tree:
            command: echo x > ${{outputs.d}}/f && ln -s missing ${{outputs.d}}/dangling
            outputs: {d: out/}
    """)
    repo.outcomes()
    shutil.rmtree(repo.root / "out")
    os.remove(repo.root / "bin/tool.sh")
    assert repo.outcomes() == {"tool": "restored", "tree": "restored"}
    assert os.access(repo.root / "bin/tool.sh", os.X_OK)
    assert os.readlink(repo.root / "out/dangling") == "missing"
    assert set(repo.states().values()) == {"fresh"}
    os.chmod(repo.root / "bin/tool.sh", 0o644)  # a mode change is a change
    assert repo.states()["tool"] == "restore"


def test_python_bytecode_in_a_code_folder_is_not_content(repo):
    repo.write("src/util.py", "def f():\n    return 42\n")
    repo.write(
        "src/main.py",
        "import sys\nsys.path.insert(0, 'src')\nimport util\nopen(sys.argv[1], 'w').write(str(util.f()))\n",
    )
    repo.pipefile("""
        version: 1
        steps:
          a:
            command: python src/main.py ${{outputs.o}}
            code: [src]
            outputs: {o: build/a.txt}
    """)
    env = {"PYTHONDONTWRITEBYTECODE": ""}
    assert repo.outcomes(env=env) == {"a": "ran"}
    assert (repo.root / "src/__pycache__").is_dir()
    assert repo.outcomes(env=env) == {"a": "fresh"}
    # Another size: Python itself would reuse its bytecode for a same-size edit in the same second.
    repo.write("src/util.py", "def f():\n    return 4343\n")
    assert repo.outcomes(env=env) == {"a": "ran"}
    assert repo.read("build/a.txt") == "4343"


def test_background_children_do_not_outlive_their_step(repo):
    repo.pipefile("""
        version: 1
        steps:
          a:
            command: (sleep 1; echo late > late.txt) & echo early > ${{outputs.o}}
            outputs: {o: build/a.txt}
    """)
    r = repo.pipe("run")
    assert r.code == 0, r
    time.sleep(1.5)
    assert not repo.exists("late.txt")


def test_an_input_missing_inside_an_upstream_output_fails_only_that_step(repo):
    repo.pipefile("""
        version: 1
        steps:
          a: {command: "echo m > ${{outputs.d}}/model.bin", outputs: {d: build/model/}}
          b:
            command: cat build/model/other.bin > ${{outputs.o}}
            inputs: {m: build/model/other.bin}
            outputs: {o: build/b.txt}
          slow: {command: "echo s > ${{outputs.o}}", outputs: {o: build/s.txt}}
    """)
    out = repo.run_json("-k", expect=1)
    got = {s["name"]: s["outcome"] for s in out["steps"]}
    assert got == {"a": "ran", "b": "failed", "slow": "ran"}
    r = repo.pipe("status", "--json")
    assert r.code == 0
    b = [s for s in r.json["steps"] if s["name"] == "b"][0]
    assert b["state"] == "run" and b["reasons"][0]["kind"] == "missing_input"


def test_status_and_dry_run_create_no_state(repo):
    repo.write("in.txt", "x")
    repo.pipefile(SLOW.replace("sleep 30 && ", ""))
    assert repo.pipe("status").code == 0
    assert repo.pipe("run", "--dry-run").code == 0
    assert not repo.exists(".pipe")


def test_dot_keeps_unicode_readable(repo):
    repo.write("données.txt", "x")
    repo.pipefile("""
        version: 1
        steps:
          etape: {command: "cat ${{inputs.i}} > ${{outputs.o}}", inputs: {i: données.txt}, outputs: {o: build/ö.txt}}
    """)
    dot = repo.pipe("dag", "--format", "dot").out
    assert '"path:données.txt"' in dot and "\\u" not in dot
