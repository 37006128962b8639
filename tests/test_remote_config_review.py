"""Remotes reviewed through the real CLI: what a hand-edited remotes file may say, what a file://
URL names, an http remote whose URL carries a token, how pull --all-jobs reads a remote. Each
test failed before its fix."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest
import servers
from workspace_repo import PIPE, Repo

PIPEFILE = """
version: 1
steps:
  make:
    command: python -c "open('${{outputs.out}}', 'w').write('made\\\\n')"
    outputs: {out: build/out.txt}
"""


def _workspace(root) -> Repo:
    root.mkdir(parents=True)
    repo = Repo(root)
    repo.pipefile(PIPEFILE)
    return repo


def test_a_remote_name_that_add_refuses_is_refused_in_a_hand_edited_file_where_it_is_written(tmp_path):
    """Was: `pipe remote add` refused "-x" or "bad name", but the same names written into the file by
    hand were taken by every command (`remote list` printed them, `push` pushed to them)."""
    repo = _workspace(tmp_path / "ws")
    cache = tmp_path / "cache"
    for name, shown in (('"bad name"', "'bad name'"), ('"-x"', "'-x'"), ('"\\e[31mred"', "'\\x1b[31mred'")):
        repo.write(".pipe-remotes.yaml", f"version: 1\nremotes:\n  ok: {{url: {cache}}}\n  {name}:\n    url: {cache}\n")
        assert repo.pipe("remote", "add", "x", str(cache)).code == 2
        for args in (("remote", "list"), ("remote", "list", "--json"), ("push", "--remote", "ok"), ("run",)):
            r = repo.pipe(*args)
            assert r.code == 2, (args, str(r))
            assert f".pipe-remotes.yaml:4:3: {shown} is not a valid remote name" in r.err, (args, str(r))
            assert "hint: rename it in the file" in r.err and "\x1b" not in r.err, (args, str(r))
        assert not cache.exists()
    # The hint's command removes it.
    repo.write(".pipe-remotes.yaml", f"version: 1\nremotes:\n  -x: {{url: {cache}}}\n")
    r = repo.pipe("remote", "list")
    assert "pipe remote remove -- -x" in r.err, str(r)
    assert repo.pipe("remote", "remove", "--", "-x").code == 0
    assert repo.pipe("remote", "list").code == 0
    # The workspace's own file is read alike.
    repo.write(".pipe/remotes.yaml", f"version: 1\nremotes:\n  '9lives': {{url: {cache}}}\n")
    r = repo.pipe("remote", "list")
    assert r.code == 2 and ".pipe/remotes.yaml:3:3: '9lives' is not a valid remote name" in r.err, str(r)


def test_a_file_url_whose_path_is_not_the_folder_it_seems_to_name_is_refused_everywhere(tmp_path):
    """Was: `file:///…/run#2` and `file:///…/q?x=1` pushed into the folders `run` and `q` (urllib
    drops a fragment and a query), `%FF` into a folder named U+FFFD, and `%00` was an exit 70.
    Refused now when added, given (--remote), or read from the file, before anything is written."""
    repo = _workspace(tmp_path / "ws")
    repo.pipe("run", check=True)
    for bad, says in (
        ("run#2", "holds a '#'"),
        ("q?x=1", "holds a '?'"),
        ("%FF", "bytes that are not UTF-8"),
        ("x%00y", "a NUL (%00)"),
    ):
        url = f"file://{tmp_path}/{bad}"
        for args in (("remote", "add", "t", url), ("push", "--remote", url), ("pull", "--remote", url)):
            r = repo.pipe(*args)
            assert r.code == 2 and says in r.err and "hint:" in r.err, (args, str(r))
        repo.write(".pipe-remotes.yaml", f"version: 1\ndefault: t\nremotes:\n  t: {{url: '{url}'}}\n")
        for args in (("push",), ("run",), ("status",)):
            r = repo.pipe(*args)
            assert r.code == 2 and says in r.err, (args, str(r))
        repo.write(".pipe-remotes.yaml", "version: 1\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]
    # Escaped as Path.as_uri() escapes them, the same names are the folders they say.
    there = tmp_path / "run#2 é"
    assert "%23" in there.as_uri()
    r = repo.pipe("push", "--remote", there.as_uri())
    assert r.code == 0 and (there / "objects").is_dir(), str(r)
    # A local:// URL is shown as written (was `local:/…`: read back, a relative path).
    r = repo.pipe("push", "--remote", f"local://{tmp_path}/c")
    assert r.code == 0 and f"'local://{tmp_path}/c'" in r.out + r.err, str(r)


def test_pull_all_jobs_reads_each_remote_entry_once_and_on_the_transfer_threads(tmp_path):
    """Was: each entry read one at a time on the main thread, then read again: on an sftp or S3
    remote, two round trips in a row per entry (a remote of thousands of runs: minutes). The
    reads are traced on a folder remote (strace: which thread opens each entry file)."""
    strace = shutil.which("strace")
    if strace is None or subprocess.run([strace, "-f", "-o", os.devnull, "true"]).returncode != 0:
        pytest.skip("strace is not installed, or may not trace here")
    steps = "".join(f"  s{i}:\n    command: echo {i} > o{i}.txt\n    outputs: {{o: o{i}.txt}}\n" for i in range(40))
    first, second = _workspace(tmp_path / "first"), _workspace(tmp_path / "second")
    for repo in (first, second):
        repo.pipefile("version: 1\nsteps:\n" + steps)
    cache = tmp_path / "cache"
    first.pipe("run", check=True)
    first.pipe("push", "--remote", str(cache), check=True)
    log = tmp_path / "trace"
    cmd = [strace, "-f", "-qq", "-e", "trace=openat", "-o", str(log), *PIPE, "pull", "--all-jobs", "--remote"]
    r = subprocess.run([*cmd, str(cache)], cwd=second.root, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "pulled 40 run-cache entries" in r.stdout + r.stderr, r.stdout + r.stderr
    opens = [
        line.split()[0]
        for line in log.read_text().splitlines()
        if re.search(re.escape(f"{cache}/actions/") + r"../[0-9a-f]+\.json\"", line)
    ]
    assert len(opens) == 40, f"{len(opens)} reads of the remote's 40 entries"
    assert len(set(opens)) > 1, "every entry read on one thread"
    assert {s["name"]: s["outcome"] for s in second.pipe("run", "--json").json["steps"]} == dict.fromkeys(
        (f"s{i}" for i in range(40)), "restored"
    )


# A static host that serves a folder only to requests carrying its token in the query (as a
# signed or token URL does), 403 otherwise; each request's path and query logged.
TOKEN_SERVER = """
import http.server, os, socketserver, sys, urllib.parse
root, port, token, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        with open(log, "a") as f:
            f.write(self.path + "\\n")
        parts = urllib.parse.urlsplit(self.path)
        p = os.path.join(root, parts.path.lstrip("/"))
        if parts.query != "token=" + token:
            code, data = 403, b""
        elif not os.path.isfile(p):
            code, data = 404, b""
        else:
            code, data = 200, open(p, "rb").read()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
S(("127.0.0.1", port), H).serve_forever()
"""


def test_an_http_remote_whose_url_carries_a_token_sends_it_with_every_request(tmp_path):
    """Was: the paths were joined after the query (`/?token=T/pipe-remote.json`), so the server
    never saw the token where it looks: every record and object was "absent", and pull said
    the remote held nothing, exit 0."""
    servers.need(importlib.util.find_spec("aiohttp") is not None, "aiohttp (fsspec's http) not installed")
    first, second = _workspace(tmp_path / "first"), _workspace(tmp_path / "second")
    cache = tmp_path / "cache"
    first.pipe("run", check=True)
    first.pipe("push", "--remote", str(cache), check=True)
    (tmp_path / "server.py").write_text(TOKEN_SERVER)
    port, log = servers.free_port(), tmp_path / "requests.log"
    log.write_text("")
    proc = subprocess.Popen([sys.executable, str(tmp_path / "server.py"), str(cache), str(port), "s3cr3t", str(log)])
    try:
        servers.wait_for_port(port, proc, "the token server")
        url = f"http://127.0.0.1:{port}/?token=s3cr3t"
        r = second.pipe("remote", "add", "web", url, "--local", "--default")
        assert r.code == 0, str(r)
        r = second.pipe("pull")
        assert r.code == 0 and "pulled 1 run-cache entry, 1 object" in r.out + r.err, str(r)
        assert "s3cr3t" not in r.out + r.err
        assert {s["name"]: s["outcome"] for s in second.pipe("run", "--json").json["steps"]} == {"make": "restored"}
        assert second.read("build/out.txt") == "made\n"
        sent = log.read_text().splitlines()
        assert sent and all(line.endswith("?token=s3cr3t") for line in sent), sent
    finally:
        servers.stop(proc)


def test_an_sftp_or_http_url_whose_path_a_query_or_fragment_ends_is_refused_when_given(tmp_path):
    """Was: `sftp://host/srv/run#2` (or `?x=1`) was added, then every push failed, exit 1, with
    "SSHClient.connect() got an unexpected keyword argument 'url_fragment'"; an http URL's
    fragment is never sent, so every record was asked of the root: an empty remote, exit 0."""
    repo = _workspace(tmp_path / "ws")
    for url, says in (
        ("sftp://me@127.0.0.1:9/srv/run#2", "holds a '#'"),
        ("ssh://me@127.0.0.1:9/srv/q?x=1", "holds a '?'"),
        ("http://127.0.0.1:9/cache#top", "holds a '#'"),
    ):
        for args in (("remote", "add", "t", url, "--local"), ("pull", "--remote", url)):
            r = repo.pipe(*args)
            assert r.code == 2 and says in r.err and "hint:" in r.err, (args, str(r))
    assert not repo.exists(".pipe/remotes.yaml")


def test_remote_add_local_in_a_fresh_clone_keeps_its_file_out_of_git(tmp_path):
    """Was: `pipe remote add --local` made .pipe/ without the .gitignore a workspace writes there,
    so `git status` offered .pipe/remotes.yaml (a token in a URL, a key's path) to `git add -A`."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = _workspace(tmp_path / "ws")
    subprocess.run(["git", "init", "-q"], cwd=repo.root, check=True)
    repo.pipe("remote", "add", "web", "https://127.0.0.1:9/cache?token=s3cr3t", "--local", check=True)
    assert repo.exists(".pipe/remotes.yaml")
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo.root, capture_output=True, text=True
    ).stdout
    assert ".pipe" not in status, status
    repo.pipe("run", check=True)  # (the workspace it becomes keeps that .gitignore as it is)
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo.root, capture_output=True, text=True
    ).stdout
    assert ".pipe" not in status, status
    # The committed file, a link to a team's file of another name: its folder is left as it is.
    team = tmp_path / "team"
    team.mkdir()
    (team / "remotes.yaml").write_text("version: 1\n")
    os.symlink(team / "remotes.yaml", repo.root / ".pipe-remotes.yaml")
    repo.pipe("remote", "add", "shared", str(tmp_path / "cache"), check=True)
    assert "shared" in (team / "remotes.yaml").read_text() and not (team / ".gitignore").exists()


def test_remote_adds_and_removes_at_once_lose_none(tmp_path):
    """Was: each `pipe remote add` read the file, added its remote and wrote the file whole, so of
    several at once (a setup script's, CI's) some were lost while every one said "added"."""
    repo = _workspace(tmp_path / "ws")
    names = [f"r{i}" for i in range(8)]

    def all_at_once(*args_of) -> None:
        procs = [subprocess.Popen([*PIPE, *args], cwd=repo.root, stdout=subprocess.DEVNULL) for args in args_of]
        assert [p.wait(timeout=120) for p in procs] == [0] * len(procs)

    all_at_once(*(("remote", "add", n, str(tmp_path / n)) for n in names))
    listed = {r["name"] for r in repo.pipe("remote", "list", "--json").json["remotes"]}
    assert listed == set(names)
    all_at_once(*(("remote", "remove", n) for n in names[:4]), ("remote", "add", "late", str(tmp_path / "late")))
    listed = {r["name"] for r in repo.pipe("remote", "list", "--json").json["remotes"]}
    assert listed == set(names[4:]) | {"late"}


def test_a_remote_url_from_a_committed_file_never_drives_the_terminal_nor_forges_a_line(tmp_path):
    """Was: a URL holding an escape or a line break was printed as it is in every message naming
    its remote (`remote 't' (/x\\nFORGED)`), and `pipe run`'s warning let its ESC through."""
    repo = _workspace(tmp_path / "ws")
    (tmp_path / "notes.txt").write_text("a file, where the remote's folder would be\n")
    url = f"{tmp_path}/notes.txt/\\e[31mRED\\nFORGED"
    repo.write(".pipe-remotes.yaml", f'version: 1\ndefault: t\nremotes:\n  t: {{url: "{url}"}}\n')
    for args, code in ((("push",), 2), (("status",), 0), (("run",), 0)):
        r = repo.pipe(*args)
        assert r.code == code and "notes.txt is a file" in r.err, (args, str(r))
        assert "\x1b" not in r.err and "\nFORGED" not in r.err and "\\x1b[31mRED\\nFORGED" in r.err, (args, str(r))


def test_a_file_url_written_with_a_tilde_is_told_to_give_the_path_alone(tmp_path):
    """Was: `file://~/cache` was told to write `file:///~/cache`, the folder /~/cache."""
    repo = _workspace(tmp_path / "ws")
    r = repo.pipe("remote", "add", "t", "file://~/cache")
    assert r.code == 2 and "hint: a file:// URL does not expand '~': give the path alone, ~/cache" in r.err, str(r)
    assert "file:///~" not in r.err, str(r)


def test_a_committed_default_that_this_workspaces_default_overrules_is_said_so_where(tmp_path):
    """Was: `pipe remote add team URL --default` said "added ... as the default" while this
    workspace's own file (.pipe/remotes.yaml) kept its default, which wins: pushes went on there."""
    repo = _workspace(tmp_path / "ws")
    repo.pipe("remote", "add", "mine", str(tmp_path / "mine"), "--local", "--default", check=True)
    r = repo.pipe("remote", "add", "team", str(tmp_path / "team"), "--default")
    assert r.code == 0, str(r)
    assert "warning: .pipe/remotes.yaml:3:1: this workspace's default remote stays 'mine'" in r.err, str(r)
    assert "hint: to use 'team' here, delete that line" in r.err, str(r)
    r = repo.pipe("remote", "add", "other", str(tmp_path / "other"), "--local", "--default")
    assert r.code == 0 and "warning" not in r.err, str(r)  # (this workspace's own: it is the default)


def test_a_file_where_the_state_folder_goes_is_said_as_such_by_the_remote_commands(tmp_path):
    """Was: `pipe remote list/add/remove`, push and pull said "/…/.pipe/remotes.yaml: cannot be read:
    [Errno 20] Not a directory ... fix or delete the file", a file that is not there."""
    repo = _workspace(tmp_path / "ws")
    repo.write(".pipe", "not a folder\n")
    cache = str(tmp_path / "cache")
    for args in (
        ("remote", "list"),
        ("remote", "add", "x", cache, "--local"),
        ("remote", "remove", "x"),
        ("push", "--remote", cache),
        ("pull", "--remote", cache),
        ("pull", "--all-jobs", "--remote", cache),
    ):
        r = repo.pipe(*args)
        assert r.code == 2, (args, str(r))
        assert ".pipe: pipe keeps a folder of its own there, and a file is in its place" in r.err, (args, str(r))
    assert repo.read(".pipe") == "not a folder\n"
