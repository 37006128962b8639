"""The CLI's edges (review cli43): a huge -j under a low open-file limit, `pipe init` inside
an existing workspace, and commands given bad input (exit 2 with the fix, never 70)."""

from __future__ import annotations

import json
import os
import resource
import subprocess

import pytest
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
        resource.setrlimit(resource.RLIMIT_NOFILE, (128 if hard == resource.RLIM_INFINITY else min(128, hard), hard))

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


def test_init_inside_a_workspace_warns_that_the_new_pipefile_hides_the_outer_one(repo):
    repo.pipefile(
        """\
        version: 1
        steps:
          outer: {command: "echo o > o.txt", outputs: {o: o.txt}}
        """
    )
    (repo.root / "sub").mkdir()
    r = repo.pipe("init", "sub")
    assert r.code == 0, str(r)
    assert "warning: sub is inside the workspace of Pipefile" in r.err, str(r)
    assert "pipe -C ." in r.err, str(r)
    # What it warns of: from sub/, commands now find sub/Pipefile, not the outer one.
    s = subprocess.run(PIPE + ["status", "--json"], cwd=repo.root / "sub", capture_output=True, text=True)
    assert "outer" not in {x["name"] for x in json.loads(s.stdout)["steps"]}, s.stderr
    # The top of another git repository below is another project: nothing to warn of.
    (repo.root / "other").mkdir()
    (repo.root / "other" / ".git").mkdir()
    r = repo.pipe("init", "other")
    assert r.code == 0 and "warning" not in r.err, str(r)


def test_init_outside_any_workspace_says_nothing_of_one(repo):
    (repo.root / ".git").mkdir()  # (the search stops here: a Pipefile above the test's folder is not looked at)
    r = repo.pipe("init", "fresh")
    assert r.code == 0 and "warning" not in r.err, str(r)


def test_a_history_command_given_a_missing_file_with_f_says_so_and_exits_2(repo):
    # -f typo.yml was taken as its folder's workspace: "nothing yet", exit 0 (a CI `pipe verify
    # -f typo.yml` passed), and `pipe token create -f typo` made .pipe/ and a token there.
    repo.pipefile(
        """\
        version: 1
        steps:
          a: {command: "echo a > a.txt", outputs: {o: a.txt}}
        """
    )
    for cmd in (["verify"], ["gc"], ["jobs"], ["artifacts"], ["remote", "list"], ["token", "create"]):
        r = repo.pipe(*cmd, "-f", "typo.yml")
        assert r.code == 2, f"{cmd}: {r}"
        assert "typo.yml: no such file" in r.err and "check the -f argument" in r.err, f"{cmd}: {r}"
    assert not repo.exists(".pipe")
    assert repo.pipe("jobs", "-f", "Pipefile").code == 0


def test_gc_and_verify_json_print_json_before_anything_was_stored(repo):
    # They printed "no .pipe/ here yet ..." on stdout, which a --json reader cannot parse.
    repo.pipefile(
        """\
        version: 1
        steps:
          a: {command: "echo a > a.txt", outputs: {o: a.txt}}
        """
    )
    g = repo.pipe("gc", "--json")
    assert g.code == 0 and g.json["deleted"]["objects"] == 0 and g.json["dry_run"] is False, str(g)
    v = repo.pipe("verify", "--json")
    assert v.code == 0 and v.json == {"checked": 0, "bytes": 0, "corrupt": []}, str(v)
    assert not repo.exists(".pipe")


def test_serve_refuses_an_empty_host_and_a_missing_file_instead_of_serving(repo):
    # `--host ""` listened on every interface (and printed http://:8080/v1); `-f typo` served
    # an empty workspace in the typo's folder. Both are refused before anything listens.
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    repo.pipefile(
        """\
        version: 1
        steps:
          a: {command: "echo a > a.txt", outputs: {o: a.txt}}
        """
    )
    r = repo.pipe("serve", "--host", "", "--port", "1", timeout=30)
    assert r.code == 2 and "--host is empty" in r.err and "0.0.0.0" in r.err, str(r)
    r = repo.pipe("serve", "-f", "typo.yml", "--port", "1", timeout=30)
    assert r.code == 2 and "typo.yml: no such file" in r.err, str(r)


def test_a_word_that_is_not_utf8_is_bad_input_never_an_internal_error(repo):
    # Python keeps the bytes of a non-UTF-8 word as surrogates; stored (SQLite) or printed
    # they raised UnicodeEncodeError: exit 70, "internal error".
    repo.pipefile(
        """\
        version: 1
        steps:
          a: {command: "echo a > a.txt", outputs: {o: a.txt}}
        """
    )
    repo.pipe("run", check=True)
    bad = "\udcff\udcfe"  # (the bytes 0xff 0xfe on the command line)
    for cmd in (
        ["run", "-e", bad],
        ["metrics", "history", bad],
        ["endpoints", "show", bad],
        ["deployments", "show", bad],
        ["token", "revoke", bad],
        ["token", "create", "--name", bad],
    ):
        r = repo.pipe(*cmd)
        assert r.code == 2, f"{cmd}: {r}"
        assert "'\\xff\\xfe' (on the command line) is not UTF-8 text" in r.err and "hint:" in r.err, f"{cmd}: {r}"
    assert "1 fresh" in repo.pipe("run", check=True).err  # the refused run left nothing behind


def test_a_file_named_pipe_where_the_state_folder_goes_is_said_by_every_reader(repo):
    # pipe recover was an internal error (NotADirectoryError, exit 70); pipe jobs, gc and
    # verify read the file as "nothing recorded yet" and exited 0; pipe run and status said
    # ".pipe/remotes.yaml: cannot be read ... fix or delete the file".
    repo.pipefile(
        """\
        version: 1
        steps:
          a: {command: "echo a > a.txt", outputs: {o: a.txt}}
        """
    )
    repo.write(".pipe", "not a folder\n")
    for cmd in (["recover", "abc"], ["recover"], ["jobs"], ["gc"], ["verify"], ["token", "list"], ["run"], ["status"]):
        r = repo.pipe(*cmd)
        assert r.code == 2, f"{cmd}: {r}"
        assert ".pipe: pipe keeps a folder of its own there, and a file is in its place" in r.err, f"{cmd}: {r}"
    assert repo.read(".pipe") == "not a folder\n"


def test_push_and_pull_take_a_huge_jobs_as_at_most_256_transfers(repo, tmp_path):
    # -j 100000 started a thread (with its connection) per object: 3,988 threads for 1,329
    # objects, 2.3x the memory of -j 8, and slower.
    _wide(repo, 3)
    repo.pipe("run", "-q", check=True)
    repo.pipe("remote", "add", "r", str(tmp_path / "remote"), check=True)
    r = repo.pipe("push", "--remote", "r", "-j", "100000")
    assert r.code == 0, str(r)
    assert "note: -j 100000: at most 256 transfers run at once" in r.err, str(r)
    r = repo.pipe("pull", "--remote", "r", "-j", "100000")
    assert r.code == 0 and "at most 256 transfers" in r.err, str(r)
    r = repo.pipe("push", "--remote", "r", "-j", "3")
    assert r.code == 0 and "note:" not in r.err, str(r)


def test_init_refused_for_its_gitignore_writes_nothing(repo):
    # A folder named .gitignore was found after the Pipefile, code, data and pre-commit config
    # were written: exit 2, and the project written all the same.
    (repo.root / "p" / ".gitignore").mkdir(parents=True)
    r = repo.pipe("init", "p")
    assert r.code == 2 and "not a regular file" in r.err and "hint:" in r.err, str(r)
    assert sorted(os.listdir(repo.root / "p")) == [".gitignore"]


def test_a_groups_f_and_json_reach_its_subcommand(repo):
    # `pipe jobs -f OTHER show last` showed the job of the workspace found from here, and
    # `pipe jobs --json show last` printed text: the group's options were dropped.
    other = repo.root / "other"
    other.mkdir()
    (other / "Pipefile").write_text("version: 1\nname: theother\nsteps:\n  b: {command: 'echo b > b.txt'}\n")
    repo.pipefile(
        """\
        version: 1
        name: here
        steps:
          a: {command: "echo a > a.txt", outputs: {o: a.txt}}
        """
    )
    repo.pipe("run", check=True)
    repo.pipe("run", "-f", "other/Pipefile", check=True)
    r = repo.pipe("jobs", "-f", "other/Pipefile", "show", "last")
    assert r.code == 0 and "experiment theother" in r.out, str(r)
    r = repo.pipe("jobs", "--json", "show", "last")
    assert r.code == 0 and r.json["experiment"] == "here", str(r)
    r = repo.pipe("jobs", "-f", "other/Pipefile", "--json", "show", "last")
    assert r.code == 0 and r.json["experiment"] == "theother", str(r)
    r = repo.pipe("endpoints", "--json", "show", "nope")
    assert r.code == 2, str(r)


def test_init_force_replaces_a_link_never_the_file_it_points_at(repo):
    # --force wrote the template's data/words.txt through a link there, into a file outside
    # the project: that file's content was lost.
    (repo.root / "outside.txt").write_text("precious\n")
    (repo.root / "p" / "data").mkdir(parents=True)
    os.symlink("../../outside.txt", repo.root / "p" / "data" / "words.txt")
    r = repo.pipe("init", "p", "--force")
    assert r.code == 0, str(r)
    assert repo.read("outside.txt") == "precious\n"
    words = repo.root / "p" / "data" / "words.txt"
    assert not words.is_symlink() and words.read_text()


def test_init_force_over_a_folder_names_the_file_not_a_temporary(repo):
    # Since templates are replaced whole (written to a hidden temporary, then renamed), a
    # folder where the Pipefile goes was told as "(p/.Pipefile.1a2b3c4d.tmp: Is a directory)":
    # a name the user never made, and not the one to move away.
    (repo.root / "p" / "Pipefile").mkdir(parents=True)
    r = repo.pipe("init", "p", "--force")
    assert r.code == 2, str(r)
    assert "p/Pipefile: Is a directory" in r.err and ".tmp" not in r.err, r.err
    assert sorted(os.listdir(repo.root / "p")) == ["Pipefile"]


def test_run_from_a_removed_folder_says_so_instead_of_an_internal_error(repo):
    # Every relative path fails with FileNotFoundError there: it was exit 70.
    env = dict(os.environ, PIPE_PLAIN="1")
    for cmd in ("status", "run", "jobs", "validate"):
        (repo.root / "gone").mkdir()
        p = subprocess.run(
            ["sh", "-c", f'cd gone && rmdir ../gone && exec "$0" -m pipefile {cmd}', PIPE[0]],
            cwd=repo.root,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert p.returncode == 2, f"{cmd}: {p.stderr}"
        assert "the current folder no longer exists" in p.stderr and 'cd "$PWD"' in p.stderr, f"{cmd}: {p.stderr}"


def test_a_nonsense_jobs_exits_2_naming_the_flag_and_the_fix(repo):
    repo.pipefile(
        """\
        version: 1
        steps:
          a: {command: "echo a > a.txt", outputs: {o: a.txt}}
        """
    )
    for value in ("0", "-1", "abc", "", "1.5"):
        r = repo.pipe("run", "-j", value)
        assert r.code == 2, f"{value}: {r}"
        assert "'-j' / '--jobs'" in r.err and "give a whole number from 1, e.g. -j 4" in r.err, f"{value}: {r}"
    r = repo.pipe("push", "-j", "0")
    assert r.code == 2 and "number of transfers at once" in r.err, str(r)
    assert not repo.exists("a.txt")
    assert repo.pipe("run", "-j", " 3").code == 0  # (as click's int() reads it, and the fast path)


def test_jobs_list_filters_before_show_are_refused_not_dropped(repo):
    # `pipe jobs -e X show last` showed the last job of any experiment, -e dropped unsaid.
    repo.pipefile(
        """\
        version: 1
        steps:
          a: {command: "echo a > a.txt", outputs: {o: a.txt}}
        """
    )
    repo.pipe("run", check=True)
    r = repo.pipe("jobs", "-e", "other", "show", "last")
    assert r.code == 2 and "-e chooses which jobs `pipe jobs` lists" in r.err and "drop it" in r.err, str(r)
    r = repo.pipe("jobs", "-n", "3", "--all", "show", "last")
    assert r.code == 2 and "-n, --all choose" in r.err, str(r)
    assert repo.pipe("jobs", "-e", "other").code == 0


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="Linux's /dev/full")
@pytest.mark.parametrize("args", [["jobs", "--all"], ["jobs", "--all", "--json"], ["status"]])
def test_output_sent_to_a_full_device_says_so_not_that_pipes_files_are_full(repo, args):
    # Before: "no space left on the device to write pipe's files ... `pipe gc` frees what the
    # store no longer needs": the store was fine; stdout was full.
    repo.write("Pipefile", "steps:\n  a:\n    command: echo a > a.txt\n    outputs: {o: a.txt}\n", dedent=False)
    repo.pipe("run", check=True)
    env = dict(os.environ, PIPE_PLAIN="1")
    with open("/dev/full", "w") as full:
        p = subprocess.run(PIPE + args, cwd=repo.root, stdout=full, stderr=subprocess.PIPE, text=True, env=env)
    assert p.returncode == 2, p.stderr
    assert "pipe's output could not be written to its standard output (No space left on device)" in p.stderr
    assert "pipe gc" not in p.stderr and "Traceback" not in p.stderr and "Exception ignored" not in p.stderr
