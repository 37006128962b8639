"""Hostile or broken input on the parse side (issue 13, items 2 and 5): a Pipefile, a remotes
file or a metrics file from someone else must end in a located error and exit 2, never in a
minute of work, gigabytes of memory, a crash or exit 70 ("internal error").

Each command runs under a memory cap and a time limit, so that a regression fails here
instead of taking the machine down."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import pytest

from pipefile.errors import PipefileError

MEMORY_CAP = 1 << 30


def _cap_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def pipe(repo, *args, timeout=60):
    """`pipe ARGS` in the workspace, in at most 1 GiB and `timeout` seconds: (exit code, stderr)."""
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    p = subprocess.run(
        [sys.executable, "-m", "pipefile", *args],
        cwd=repo.root,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        preexec_fn=_cap_memory,
    )
    return p.returncode, p.stderr


def laughs(levels: int, width: int = 9) -> str:
    """A Pipefile whose param defaults are aliases of aliases: width**levels values from a few
    hundred bytes."""
    lines = ["version: 1", "params:", f"  l0: {{default: &l0 [{', '.join(['lol'] * width)}]}}"]
    for i in range(1, levels):
        lines.append(f"  l{i}: {{default: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]}}")
    lines += ["steps:", "  s:", "    command: echo hi > out.txt", "    outputs: {o: out.txt}", ""]
    return "\n".join(lines)


def assert_refused(code: int, err: str, where: str, *words: str) -> None:
    assert code == 2, f"exit {code}\n{err[:2000]}"
    assert "internal error" not in err and "Traceback" not in err, err[:2000]
    assert where in err.splitlines()[0], err[:2000]
    assert "hint:" in err, err[:2000]
    for w in words:
        assert w in err, err[:2000]
    assert len(err) < 5000, "the message is bounded too"


# --- aliases (item 2) ------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["validate", "status", "run"])
def test_billion_laughs_is_refused_at_the_alias_quickly_and_writes_nothing(repo, command):
    text = laughs(9)
    assert len(text) < 700
    repo.write("Pipefile", text, dedent=False)
    started = time.monotonic()
    code, err = pipe(repo, command)
    assert time.monotonic() - started < 20
    # the alias that takes the expansion past the bound: a *l4, on the line of l5
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.startswith("  l5:"))
    assert_refused(code, err, f"Pipefile:{line}:", "alias *l4", "billion laughs")
    assert not repo.exists(".pipe") and not repo.exists("out.txt")


def test_an_alias_inside_the_node_it_names_is_refused(repo):
    repo.pipefile("""\
        version: 1
        params:
          p: {default: &a [1, [2, *a]]}
        steps:
          s: {command: "echo ${{params.p}}"}
        """)
    code, err = pipe(repo, "validate")
    assert_refused(code, err, "Pipefile:3:27:", "alias *a", "contain itself")


def test_remotes_file_with_laughs_is_refused_located(repo):
    repo.pipefile("""\
        version: 1
        steps:
          s: {command: echo hi}
        """)
    body = laughs(9).replace("params:", "remotes:")
    repo.write(".pipe-remotes.yaml", body, dedent=False)
    code, err = pipe(repo, "remote", "list")
    assert_refused(code, err, ".pipe-remotes.yaml:8:27:", "alias *l4")


def test_merge_keys_and_aliases_work_and_written_keys_override_merged_ones(repo):
    repo.pipefile("""\
        version: 1
        components:
          echo:
            command: echo ${{inputs.word}} > ${{outputs.out}}
            inputs: {word: {type: string}}
            outputs: {out: {type: uri_file}}
        steps:
          a: &base
            component: echo
            resources: &res {cpus: 1}
            inputs: {word: {value: hello}}
            outputs: {out: build/a.txt}
          b:
            <<: *base
            outputs: {out: build/b.txt}
          c:
            <<: [*base]
            resources: {<<: *res, memory: 1GB}
            inputs: {word: {value: there}}
            outputs: {out: build/c.txt}
        """)
    code, err = pipe(repo, "run")
    assert code == 0, err
    assert (repo.read("build/a.txt"), repo.read("build/b.txt"), repo.read("build/c.txt")) == (
        "hello\n",
        "hello\n",
        "there\n",
    )


def test_a_key_written_twice_is_still_an_error_beside_a_merge_key(repo):
    repo.pipefile("""\
        version: 1
        steps:
          a: &base
            command: echo a
          b:
            <<: *base
            command: echo b
            command: echo c
        """)
    code, err = pipe(repo, "validate")
    assert code == 2 and "Pipefile:8:5: 'command' appears twice in step 'b' (first at line 7)" in err, err


# --- nesting, NUL, odd characters (item 5) -----------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "[" * 3000 + "1" + "]" * 3000,  # RecursionError in Python before
        "{a: " * 200_000 + "1" + "}" * 200_000,  # libyaml's composer recursed in C: a segfault before
        "\n" + "".join("  " * i + "- \n" for i in range(2, 300)) + "  " * 300 + "- 1",  # block nesting
    ],
    ids=["flow-lists", "flow-mappings-200k", "block-lists"],
)
def test_deep_nesting_is_refused_where_it_goes_too_deep(repo, value):
    repo.write(
        "Pipefile",
        "version: 1\nparams:\n  p:\n    default: " + value + "\nsteps:\n  s: {command: echo}\n",
        dedent=False,
    )
    code, err = pipe(repo, "validate")
    assert_refused(code, err, "Pipefile:", "nested more than 100 deep")


def test_nesting_within_the_bound_is_read(repo):
    value = "[" * 90 + "1" + "]" * 90
    repo.write(
        "Pipefile",
        f"version: 1\nparams:\n  p: {{type: string, default: {value}}}\nsteps:\n  s: {{command: echo}}\n",
        dedent=False,
    )
    code, err = pipe(repo, "validate")
    assert code == 2 and "Pipefile:3:" in err and "which is not a string" in err, err


@pytest.mark.parametrize(
    "text",
    [
        'steps:\n  s:\n    command: "echo a\\0b"\n',
        'steps:\n  s:\n    command: echo > ${{outputs.o}}\n    outputs: {o: "out\\x00.txt"}\n',
        'environments:\n  e:\n    type: local\n    env: {A: "x\\u0000y"}\nsteps:\n  s: {command: echo, environment: e}\n',
        'params:\n  p:\n    default: "\\0"\nsteps:\n  s: {command: echo}\n',
    ],
    ids=["command", "path", "env", "param"],
)
def test_a_nul_character_is_refused_by_validate_not_at_run(repo, text):
    text = "version: 1\n" + text
    at = text.rindex('"', 0, text.index("\\"))  # the string that holds the escape
    where = f"Pipefile:{text.count(chr(10), 0, at) + 1}:{at - text.rfind(chr(10), 0, at)}:"
    repo.write("Pipefile", text, dedent=False)
    for command in ("validate", "run"):
        code, err = pipe(repo, command)
        assert_refused(code, err, where, "NUL character")
    assert not repo.exists(".pipe")


def test_a_param_value_with_a_nul_is_refused(repo):
    from pipefile.speccache import load_graph

    repo.pipefile("""\
        version: 1
        params:
          word: hi
        steps:
          s: {command: "echo ${{params.word}}"}
        """)
    path = str(repo.root / "Pipefile")
    for kw in ({"params": ["word=a\0b"]}, {"values": {"word": "a\0b"}, "freeze": False}):
        with pytest.raises(PipefileError, match=r"param 'word' holds a NUL character"):
            load_graph(path, **kw)


def test_a_control_character_and_bytes_that_are_not_utf8_are_located(repo):
    repo.write("Pipefile", "version: 1\nname: ab\x01c\nsteps:\n  s: {command: echo}\n", dedent=False)
    code, err = pipe(repo, "validate")
    assert_refused(code, err, "Pipefile:2:9:", "U+0001")
    (repo.root / "Pipefile").write_bytes(b"version: 1\nname: caf\xe9\nsteps:\n  s: {command: echo}\n")
    code, err = pipe(repo, "validate")
    assert_refused(code, err, "Pipefile:2:10:", "not UTF-8", "byte 0xe9")


# --- what -f points at (item 5) ----------------------------------------------------------------
@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "link-to-zero", "dir"])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_pipefile_that_is_not_a_regular_file_is_refused(repo, tmp_path, target, command):
    os.mkfifo(tmp_path / "fifo")
    os.symlink("/dev/zero", tmp_path / "link-to-zero")
    (tmp_path / "dir").mkdir()
    path = target if target.startswith("/") else str(tmp_path / target)
    if target == "link-to-zero":  # a symlinked Pipefile, as a pull request can carry one
        os.symlink(path, repo.root / "Pipefile")
        args = (command,)
    elif target == "dir":  # click's check of -f does not see a directory named Pipefile
        os.mkdir(repo.root / "Pipefile")
        args = (command,)
    else:
        args = (command, "-f", path)
    code, err = pipe(repo, *args, timeout=30)
    assert code == 2, err
    assert "not a regular file" in err or "is a directory" in err, err
    assert "internal error" not in err
    assert not repo.exists(".pipe")


@pytest.mark.skipif(not os.path.exists("/proc/self/fd/0"), reason="Linux: /dev/stdin and /proc/self/fd")
@pytest.mark.parametrize("given", ["/dev/stdin", "/proc/self/fd/0"])
@pytest.mark.parametrize("command", ["run", "status"])
def test_a_pipefile_read_through_the_kernels_folders_is_refused(repo, tmp_path, given, command):
    """`pipe run -f /dev/stdin < Pipefile` read a regular file, and the Pipefile's folder, the
    workspace root, was /dev: .pipe/ and the outputs were written there."""
    made = [p for p in ("/dev/.pipe", "/dev/out-of-a-stdin-pipefile.txt") if not os.path.lexists(p)]
    text = tmp_path / "Pipefile"
    text.write_text(
        'version: 1\nsteps:\n  a: {command: "echo > ${{outputs.o}}", outputs: {o: out-of-a-stdin-pipefile.txt}}\n'
    )
    env = dict(os.environ, PIPE_PLAIN="1")
    env.pop("PIPE_STORE_DIR", None)
    try:
        with open(text) as stdin:
            p = subprocess.run(
                [sys.executable, "-m", "pipefile", command, "-f", given],
                cwd=repo.root,
                stdin=stdin,
                capture_output=True,
                text=True,
                env=env,
                timeout=30,
            )
        assert p.returncode == 2, p.stderr
        assert "is the kernel's, not a workspace" in p.stderr and "cat > Pipefile" in p.stderr, p.stderr
        assert not any(os.path.lexists(m) for m in made), made
    finally:
        for m in made:  # (what the code before this check wrote)
            subprocess.run(["rm", "-rf", m], check=False)


def test_the_size_read_is_capped(tmp_path):
    from pipefile.load import yamlsafe

    (tmp_path / "big.yaml").write_bytes(b"a: 1\n" * 100)
    with pytest.raises(PipefileError, match="larger than"):
        yamlsafe.read_file(str(tmp_path / "big.yaml"), limit=100)
    assert yamlsafe.read_file(str(tmp_path / "big.yaml"), limit=500) == b"a: 1\n" * 100


# --- the bounded loader, in process ------------------------------------------------------------
def test_every_yaml_read_goes_through_yamlsafe():
    import pathlib
    import re

    import pipefile

    pkg = pathlib.Path(pipefile.__file__).parent
    direct = re.compile(r"yaml\.(safe_load|load|compose|full_load|unsafe_load|load_all|parse)\(|Loader=")
    offenders = [
        f"{p.relative_to(pkg)}:{n}"
        for p in pkg.rglob("*.py")
        # (prs_driver.py runs in an Azure ML parallel step's own environment, as that step's
        # code, where pipe cannot be imported: it reads the step's MLTable file there)
        if p.name not in ("yamlsafe.py", "prs_driver.py")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if direct.search(line)
    ]
    assert not offenders, offenders


def test_compose_matches_pyyaml_on_ordinary_yaml():
    import yaml

    from pipefile.load import yamlsafe

    text = "a: &x [1, {b: c}]\nd: *x\ne: |\n  text\nf: !!str 5\ng: {<<: {h: 1}, i: 2}\n? [k]\n: v\n"
    mine, theirs = yamlsafe.compose(text, "t"), yaml.compose(text, Loader=yaml.SafeLoader)
    assert yaml.serialize(mine) == yaml.serialize(theirs)
    text = text[: text.index("? [k]")]
    assert yamlsafe.load(text, "t") == yaml.safe_load(text)
    assert yamlsafe.compose("# nothing\n", "t") is None
    with pytest.raises(yaml.YAMLError, match="single document"):
        yamlsafe.compose("a: 1\n---\nb: 2\n", "t")
    with pytest.raises(yaml.YAMLError, match="undefined alias"):
        yamlsafe.compose("a: *nope\n", "t")


def test_a_hostile_metrics_file_is_a_warning_not_a_crash(repo):
    deep_json = "[" * 100_000 + "]" * 100_000
    repo.write("metrics_src.json", deep_json, dedent=False)
    repo.write("laughs.yaml", laughs(9).replace("version: 1\n", ""), dedent=False)
    repo.pipefile("""\
        version: 1
        steps:
          j:
            command: cp metrics_src.json ${{outputs.m}}
            inputs: {src: metrics_src.json}
            outputs: {m: build/m.json}
            metrics: [build/m.json]
          y:
            command: cp laughs.yaml ${{outputs.m}}
            inputs: {src: laughs.yaml}
            outputs: {m: build/m.yaml}
            metrics: [build/m.yaml]
        """)
    code, err = pipe(repo, "run")
    assert code == 0, err
    assert "metrics file 'build/m.json' is nested too deeply" in err, err
    assert "metrics file 'build/m.yaml' is not usable YAML" in err, err


@pytest.mark.parametrize("where", ["/etc/passwd", "/dev/null", "/proc", "FIFO", "LONG"])
def test_a_store_dir_pipe_cannot_use_is_a_user_error_about_the_variable(repo, tmp_path, where):
    """PIPE_STORE_DIR naming a file, a device, /proc or a name too long was exit 70, or said
    `rm /etc/passwd` (its hint for a file in place of a folder of pipe's own)."""
    if where == "FIFO":
        where = str(tmp_path / "fifo")
        os.mkfifo(where)
    elif where == "LONG":
        where = str(tmp_path / ("x" * 300))
    repo.pipefile("version: 1\nsteps:\n  s:\n    command: echo hi > ${{outputs.o}}\n    outputs: {o: out.txt}\n")
    for command in ("run", "status", "jobs", "gc"):  # (status alone, before .pipe exists, makes nothing)
        r = repo.pipe(command, env=dict(os.environ, PIPE_STORE_DIR=where))
        assert r.code == 2 and "internal error" not in r.err, str(r)
        assert r.err.startswith(f"error: PIPE_STORE_DIR={where}"[:60]) and "unset it" in r.err, str(r)
        assert "rm " not in r.err, str(r)
    assert not repo.exists("out.txt")


def test_a_std_reference_with_a_digit_that_is_not_ascii_is_refused_located(repo):
    """str.isdigit() takes '²', which int() refuses: `std/split_data@²` was exit 70."""
    repo.pipefile("version: 1\nsteps:\n  a:\n    component: std/split_data@\u00b2\n")
    code, err = pipe(repo, "validate")
    assert_refused(code, err, "Pipefile:4:", "is not a std component reference")


# Where a text's digits come from the world (a file, a header, an argument): isdigit() alone
# takes '²' and '٣', which int() refuses. These read digits the kernel or a tool wrote.
_DIGITS_FROM_THE_SYSTEM = {"workspace/__init__.py", "envs/gpus.py"}


def test_every_isdigit_before_an_int_also_asks_for_ascii():
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pipefile")
    loose = []
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    code = line.split("#", 1)[0]
                    mention = "str.isdigit()" in code  # (a docstring saying why)
                    if (
                        ".isdigit()" in code
                        and not mention
                        and "isascii" not in code
                        and rel not in _DIGITS_FROM_THE_SYSTEM
                    ):
                        loose.append(f"{rel}:{n}: {line.strip()}")
    assert not loose, "\n".join(loose)


def test_a_workspace_on_a_read_only_file_system_is_a_user_error_naming_it(tmp_path):
    """A checkout mounted read-only after a run: every command that opens pipe's records was
    exit 70 ("unable to open database file", SQLite's word for it). What writes says so (exit 2);
    what only reads (status, jobs, logs, lineage) works: it was exit 2 too, as if it wrote."""
    from test_faults import tmpfs
    from workspace_repo import Repo

    with tmpfs(tmp_path / "m", "16m") as mnt:
        repo = Repo(mnt)
        repo.pipefile(
            "version: 1\nsteps:\n  a:\n    command: echo hi | tee ${{outputs.o}}\n    outputs: {o: out.txt}\n"
        )
        repo.pipe("run", check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        for args in (["run", "--force"], ["gc"]):
            r = repo.pipe(*args)
            assert r.code == 2 and "internal error" not in r.err, (args, str(r))
            assert "read-only" in r.err and ".pipe/" in r.err and "hint:" in r.err, (args, str(r))
        r = repo.pipe("status")
        assert r.code == 0 and "fresh" in r.out and "a" in r.out, str(r)
        r = repo.pipe("jobs")
        assert r.code == 0 and "succeeded" in r.out, str(r)
        r = repo.pipe("logs", "last", "a")
        assert r.code == 0 and "hi" in r.out, str(r)
        r = repo.pipe("lineage", "out.txt")
        assert r.code == 0 and "made by step 'a' in job 1" in r.out, str(r)
        assert repo.pipe("validate").code == 0  # (writes nothing)
