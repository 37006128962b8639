"""A review of the session's merged fixes: faults the fixes themselves brought in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from workspace_repo import PIPE


def pipe_in(cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    return subprocess.run(PIPE + list(args), cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)


def test_the_undeclared_script_warning_names_only_a_script_code_can_hold(tmp_path):
    """The warning's fix is `code: [PATH]`: a script another step writes (bound as its input)
    is no code, and `cd src && python train.py` runs src/train.py, not a train.py of the
    workspace's top (there is none): neither is warned about. One that is there still is."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src/mk.py").write_text("import sys\nopen(sys.argv[1], 'w').write('print(1)')\n")
    (tmp_path / "src/train.py").write_text("print(2)\n")
    (tmp_path / "src/x.py").write_text("print(3)\n")
    (tmp_path / "Pipefile").write_text(
        "steps:\n"
        "  gen:\n    command: python src/mk.py ${{outputs.s}}\n    code: [src/mk.py]\n"
        "    outputs: {s: build/gen.py}\n"
        "  use:\n    command: python build/gen.py > ${{outputs.o}}\n"
        '    inputs: {s: "${{steps.gen.outputs.s}}"}\n    outputs: {o: build/o.txt}\n'
        "  cdsrc:\n    command: cd src && python train.py > ../${{outputs.o}}\n    code: [src/train.py]\n"
        "    outputs: {o: build/t.txt}\n"
        "  plain:\n    command: python src/x.py > ${{outputs.o}}\n    outputs: {o: build/x.txt}\n"
    )
    r = pipe_in(tmp_path, "validate")
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "which is not in its code" in line]
    assert len(warnings) == 1 and "step 'plain' runs 'src/x.py'" in warnings[0], r.stderr


def test_a_wheel_outside_the_workspace_is_not_read_into_memory_at_every_load(tmp_path):
    """The venv identity holds the content of the wheels its requirements name by path; one
    outside the workspace (-f ../wheels) was read whole into memory at every `pipe status`
    (a 300 MB wheel: 300 MB more). It is streamed through the stat cache as one inside."""
    (tmp_path / "wheels").mkdir()
    with open(tmp_path / "wheels/big-1.0-py3-none-any.whl", "wb") as f:
        f.truncate(300 * 1024 * 1024)  # (sparse: costs no disk)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "req.txt").write_text("-f ../wheels\nbig\n")
    (ws / "Pipefile").write_text(
        "environments:\n  e: {type: venv, requirements: req.txt}\n"
        "steps:\n  a:\n    command: echo hi > ${{outputs.o}}\n    environment: e\n    outputs: {o: build/o.txt}\n"
    )
    # (the peak of pipe status alone: a wrapper that reports what its one child took)
    measure = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.stderr.write(r.stderr)\n"
    )
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    r = subprocess.run(
        [sys.executable, "-c", measure] + PIPE + ["status"],
        cwd=ws,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    rc, peak_kib = (int(x) for x in r.stdout.split())
    assert rc == 0, r.stderr
    assert peak_kib < 200 * 1024, f"pipe status peaked at {peak_kib // 1024} MiB"


def test_a_cold_load_splits_no_command_whose_scripts_are_all_in_its_code(tmp_path, monkeypatch):
    """The undeclared-script check split every command that runs a script into shell words
    (~15 us each: 15 ms of a cold load of 1,000 such steps), though most list it in `code:`.
    Those are now passed over on what the first look found; one not listed is still named.
    (A spy counts the real shlex.split's calls, as test_cold_load counts lstat's.)"""
    import shlex

    from pipefile import load as loader
    from pipefile.load.checks import undeclared_scripts

    (tmp_path / "src").mkdir()
    (tmp_path / "src/x.py").write_text("print(1)\n")
    (tmp_path / "src/y.py").write_text("print(1)\n")
    steps = "".join(
        f"  s{i}:\n    command: python src/x.py ${{{{outputs.o}}}}\n    code: [src/x.py]\n    outputs: {{o: build/{i}.txt}}\n"
        for i in range(200)
    )
    steps += "  odd:\n    command: python src/y.py ${{outputs.o}}\n    outputs: {o: build/odd.txt}\n"
    (tmp_path / "Pipefile").write_text("steps:\n" + steps)
    pf = loader.load(str(tmp_path / "Pipefile"))
    calls: list = []
    real_split = shlex.split

    def split(*a, **kw):
        calls.append(a)
        return real_split(*a, **kw)

    monkeypatch.setattr(shlex, "split", split)
    found = undeclared_scripts(pf.steps, pf.assets, str(tmp_path))
    assert [m for _, m, _ in found] == [
        "step 'odd' runs 'src/y.py', which is not in its code: an edit to it will not rerun the step"
    ]
    assert len(calls) <= 1, len(calls)


def test_what_tools_keep_in_a_package_folder_is_not_part_of_the_venv_identity(repo):
    """A package folder installed by path (`./pkg`, `../lib`) is keyed by its content; the
    caches tools leave in it (running its tests, mypy, a venv of its own) are not content:
    each changed the identity, so the venv was rebuilt and every step in it ran again."""
    repo.write("pkg/foo/__init__.py", "VALUE = 1\n")
    repo.write("pkg/pyproject.toml", "[project]\nname = 'foo'\nversion = '1.0'\n")
    repo.pipefile("""
        environments:
          v: {type: venv, packages: ["./pkg"]}
        steps:
          a: {command: 'true', environment: v}
    """)

    def identity() -> str:
        rows = repo.pipe("envs", "--json", check=True).json["environments"]
        return next(r["identity"] for r in rows if r["name"] == "v")

    first = identity()
    repo.write("pkg/.pytest_cache/v/cache/lastfailed", "{}\n")
    repo.write("pkg/.mypy_cache/3.11/foo.data.json", "{}\n")
    repo.write("pkg/.venv/bin/activate", "# a venv of its own\n")
    repo.write("pkg/node_modules/x/index.js", "\n")
    assert identity() == first
    repo.write("pkg/foo/__init__.py", "VALUE = 2\n")
    assert identity() != first


def test_a_dockerignore_line_that_is_no_pattern_is_an_error_at_its_line(tmp_path):
    """`[z-a]` (a range written backwards) in a build folder's .dockerignore was an internal
    error (exit 70) at every load; it is refused at its line (exit 2). A `[` inside a class
    (`[[:alpha:]]`, read by the SDK as a plain `[`) no longer prints Python's FutureWarning."""
    (tmp_path / "img").mkdir()
    (tmp_path / "img/Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "img/.dockerignore").write_text("# data\n[[:alpha:]]x\n[z-a]\n")
    (tmp_path / "Pipefile").write_text(
        "environments:\n  d: {type: docker, build: img}\n"
        "steps:\n  a:\n    command: echo hi > ${{outputs.o}}\n    environment: d\n    outputs: {o: build/o.txt}\n"
    )
    r = pipe_in(tmp_path, "validate")
    assert r.returncode == 2, r.stderr
    assert "img/.dockerignore:3: '[z-a]' is not a pattern Docker can read" in r.stderr, r.stderr
    assert "FutureWarning" not in r.stderr and "internal error" not in r.stderr, r.stderr
    (tmp_path / "img/.dockerignore").write_text("[[:alpha:]]x\n")
    r = pipe_in(tmp_path, "validate")
    assert r.returncode == 0 and "FutureWarning" not in r.stderr, r.stderr
