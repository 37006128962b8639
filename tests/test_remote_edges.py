"""Remotes at their edges: a step that declares no outputs, a run-cache entry damaged here, a
remotes file whose entry is broken. Each was an exit 70 or a dead end (the error's own fix
refused) before."""

from __future__ import annotations

import importlib.util
import os

import pytest
import servers
from test_remote import make_workspace
from workspace_repo import Repo

PIPEFILE = """
version: 1
steps:
  make:
    command: python -c "open('${{outputs.out}}', 'w').write('made\\\\n')"
    outputs: {out: build/out.txt}
  check:
    command: python -c "assert open('${{inputs.made}}').read() == 'made\\\\n'" && echo checked >> checks.log
    inputs: {made: "${{steps.make.outputs.out}}"}
"""


def workspace(root, remote) -> Repo:
    root.mkdir(parents=True)
    repo = Repo(root)
    repo.pipefile(PIPEFILE)
    repo.pipe("remote", "add", "team", str(remote), "--default", check=True)
    return repo


def test_a_step_without_outputs_is_pushed_and_not_run_again_elsewhere(tmp_path):
    first = workspace(tmp_path / "first", tmp_path / "cache")
    second = workspace(tmp_path / "second", tmp_path / "cache")
    first.pipe("run", check=True)
    r = first.pipe("push", "--json")
    assert r.code == 0 and "internal error" not in r.err, str(r)  # was: exit 70, "malformed entry: no outputs"
    assert r.json["entries"] == 2 and r.json["ok"], r.json
    r = second.pipe("run", "--json")
    assert r.code == 0, str(r)
    assert {s["name"]: s["outcome"] for s in r.json["steps"]} == {"make": "restored", "check": "fresh"}, r.json
    assert not second.exists("checks.log")  # its command never ran here
    r = second.pipe("pull", "--all-jobs", "--json")
    assert r.code == 0 and r.json["ok"], str(r)


def test_a_run_cache_entry_damaged_here_is_skipped_by_push_with_why(tmp_path):
    first = workspace(tmp_path / "first", tmp_path / "cache")
    first.pipe("run", check=True)
    key = {s["name"]: s["key"] for s in first.pipe("status", "--json").json["steps"]}["make"]
    entry = first.root / ".pipe" / "store" / "actions" / key[:2] / (key[2:] + ".json")
    os.chmod(entry, 0o644)
    with open(entry, "w") as f:
        f.write('{"v": 1, "key": "' + key + '", "outputs": {"out": {"kind": "file"}}}')
    r = first.pipe("push", "--json")
    assert r.code == 0 and "internal error" not in r.err, str(r)
    assert [x["what"] for x in r.json["skipped"] if "damaged" in x["why"]] == [key[:12]], r.json
    assert not os.path.exists(tmp_path / "cache" / "actions" / key[:2] / (key[2:] + ".json"))


BROKEN = "version: 1\nremotes:\n  team:\n    url: ''\n  other:\n    url: /somewhere\n"


def test_a_broken_remote_entry_can_be_replaced_or_removed_as_the_error_says(tmp_path):
    repo = Repo(tmp_path)
    repo.pipefile(PIPEFILE)
    r = repo.pipe("remote", "add", "team", "")
    assert r.code == 2 and "URL of remote 'team' is empty" in r.err, str(r)
    r = repo.pipe("remote", "add", "team", "   ")
    assert r.code == 2 and "is empty" in r.err, str(r)
    assert not repo.exists(".pipe-remotes.yaml")

    repo.write(".pipe-remotes.yaml", BROKEN)
    r = repo.pipe("remote", "list")
    assert r.code == 2 and ".pipe-remotes.yaml:3:" in r.err and "pipe remote add team URL --force" in r.err, str(r)
    r = repo.pipe("remote", "add", "third", "/x")  # the file's other faults still stop a write
    assert r.code == 2 and "remote 'team' needs a 'url'" in r.err, str(r)
    r = repo.pipe("remote", "add", "team", str(tmp_path / "cache"), "--force")
    assert r.code == 0, str(r)
    r = repo.pipe("remote", "list", "--json")
    assert r.code == 0 and {x["name"] for x in r.json["remotes"]} == {"team", "other"}, str(r)

    repo.write(".pipe-remotes.yaml", BROKEN)
    r = repo.pipe("remote", "remove", "team")
    assert r.code == 0, str(r)
    r = repo.pipe("remote", "list", "--json")
    assert r.code == 0 and [x["name"] for x in r.json["remotes"]] == ["other"], str(r)
    repo.write(".pipe-remotes.yaml", BROKEN)
    r = repo.pipe("remote", "remove", "tema")
    assert r.code == 2 and "did you mean 'team'" in r.err, str(r)


def test_a_url_that_names_no_place_is_refused_before_anything_is_written(tmp_path):
    repo = Repo(tmp_path)
    repo.pipefile(PIPEFILE)
    repo.pipe("run", check=True)
    for url, what in (
        ("file://", "names no path"),  # was: pushed into the folder pipe ran in
        ("s3://", "names no bucket"),
        ("s3:///prefix", "names no bucket"),
        ("sftp://", "names no host"),  # was: "connecting failed (TypeError: ...)"
        ("ssh://:22/x", "names no host"),
        ("http://", "names no host"),
        ("http://[::1", "cannot be read as a URL"),  # was: "carries a password or token"
        ("sftp://me:hunter2secret@host:port/x", "cannot be read as a URL"),
    ):
        r = repo.pipe("remote", "add", "team", url, "--local")
        assert r.code == 2 and what in r.err and "hint: write it as" in r.err, (url, str(r))
        assert "hunter2secret" not in r.out + r.err
        r = repo.pipe("push", "--remote", url)
        assert r.code == 2 and what in r.err, (url, str(r))
    assert sorted(os.listdir(tmp_path)) == [".pipe", "Pipefile", "build", "checks.log"]
    for url in (
        "file:///" + str(tmp_path / "cache").lstrip("/"),
        "sftp://me@host/x",
        "s3://bucket",
        "http://127.0.0.1:9/x",
    ):
        r = repo.pipe("remote", "add", "ok", url, "--local", "--force")
        assert r.code == 0, (url, str(r))


@pytest.mark.parametrize(
    "url, option, package",
    [
        ("s3://bucket/cache", "endpoint=http://127.0.0.1:9", "s3fs"),
        ("sftp://me@127.0.0.1:9/cache", "prot=22", "paramiko"),
        ("http://127.0.0.1:9/cache", "bogus=1", "aiohttp"),
    ],
)
def test_an_option_the_file_system_does_not_take_is_bad_input_named_with_its_file(tmp_path, url, option, package):
    """Was: exit 1, 'reading its layout failed (TypeError: ... unexpected keyword argument ...)',
    no hint: a typo in a committed file read as a remote that failed."""
    servers.need(importlib.util.find_spec(package) is not None, f"{package} not installed")
    repo = make_workspace(tmp_path / "ws")
    repo.pipe("remote", "add", "team", url, "-o", option, check=True)
    name = option.split("=")[0]
    r = repo.pipe("pull", "--remote", "team", timeout=60)
    assert r.code == 2 and f"its option '{name}' (in .pipe-remotes.yaml) is not one" in r.err, str(r)
    assert "hint: fix or remove it in .pipe-remotes.yaml" in r.err and "internal error" not in r.err, str(r)


def test_a_default_remote_that_is_not_defined_is_located_in_its_file(tmp_path):
    """Was: 'the default remote ... is not defined', no file, no line, and (with no near name)
    a hint that only listed the names: every run and status stopped on it."""
    repo = workspace(tmp_path / "ws", tmp_path / "cache")
    repo.write(".pipe-remotes.yaml", "version: 1\nremotes:\n  team: {url: ../cache}\ndefault: tem\n")
    for args in (("run",), ("status",), ("push",)):
        r = repo.pipe(*args)
        assert r.code == 2 and ".pipe-remotes.yaml:4:1: the default remote 'tem' is not defined" in r.err, str(r)
        assert "write a defined remote's name there" in r.err and "did you mean 'team'?" in r.err, str(r)
    repo.write(".pipe/remotes.yaml", "version: 1\ndefault: other\n")  # (this workspace's file wins)
    r = repo.pipe("pull")
    assert r.code == 2 and os.path.join(".pipe", "remotes.yaml") + ":2:1: the default remote 'other'" in r.err, str(r)


def test_the_committed_remotes_file_is_readable_by_the_team_and_keeps_its_mode(tmp_path):
    """Was: written through mkstemp, so `pipe remote add` made .pipe-remotes.yaml 0600 (and a
    file made 0664 for a group went back to 0600 on each add): unreadable to the team's other
    users of a shared checkout. This workspace's own file stays 0600 (it may hold a credential)."""
    import stat

    repo = workspace(tmp_path / "ws", tmp_path / "cache")
    umask = os.umask(0o022)
    os.umask(umask)
    mode = stat.S_IMODE(os.stat(repo.root / ".pipe-remotes.yaml").st_mode)
    assert mode == 0o666 & ~umask, oct(mode)
    os.chmod(repo.root / ".pipe-remotes.yaml", 0o664)
    repo.pipe("remote", "add", "other", str(tmp_path / "other"), check=True)
    repo.pipe("remote", "remove", "other", check=True)
    assert stat.S_IMODE(os.stat(repo.root / ".pipe-remotes.yaml").st_mode) == 0o664
    repo.pipe("remote", "add", "mine", str(tmp_path / "mine"), "--local", check=True)
    assert stat.S_IMODE(os.stat(repo.root / ".pipe" / "remotes.yaml").st_mode) == 0o600


def test_a_remotes_file_that_is_a_link_is_written_through(tmp_path):
    """Was: `pipe remote add` renamed its new file over the link, so the file it shares (with other
    checkouts) kept the old remotes and this checkout's link became a file of its own."""
    repo = workspace(tmp_path / "ws", tmp_path / "cache")
    shared = tmp_path / "shared-remotes.yaml"
    os.replace(repo.root / ".pipe-remotes.yaml", shared)
    os.symlink(shared, repo.root / ".pipe-remotes.yaml")
    repo.pipe("remote", "add", "other", str(tmp_path / "other"), check=True)
    assert os.path.islink(repo.root / ".pipe-remotes.yaml") and "other:" in shared.read_text()
    repo.pipe("remote", "remove", "other", check=True)
    assert os.path.islink(repo.root / ".pipe-remotes.yaml") and "other:" not in shared.read_text()


def test_an_option_without_a_usable_name_is_refused_when_added(tmp_path):
    """Was: `-o =1` and `-o 'a b=1'` written to the committed file as they were (`? '' : 1`)."""
    repo = workspace(tmp_path / "ws", tmp_path / "cache")
    before = repo.read(".pipe-remotes.yaml")
    for option in ("=1", "a b=1", " =x"):
        r = repo.pipe("remote", "add", "other", str(tmp_path / "other"), "-o", option)
        assert r.code == 2 and "is not an option name" in r.err and "hint:" in r.err, str(r)
    assert repo.read(".pipe-remotes.yaml") == before


def test_an_unknown_key_in_a_remotes_file_is_refused_where_it_is_written(tmp_path):
    """Was: ignored without a word, so `option:` (for `options:`) dropped a remote's endpoint_url
    (it went to AWS instead) and `remote:` read as no remotes at all."""
    repo = workspace(tmp_path / "ws", tmp_path / "cache")
    repo.write(".pipe-remotes.yaml", "version: 1\nremotes:\n  team:\n    url: ../cache\n    option: {a: 1}\n")
    r = repo.pipe("push")
    assert r.code == 2 and ".pipe-remotes.yaml:5:5: remote 'team' has an unknown key 'option'" in r.err, str(r)
    assert "did you mean 'options'?" in r.err, str(r)
    assert repo.pipe("remote", "remove", "team").code == 0  # (its own broken entry: still removable)
    repo.write(".pipe-remotes.yaml", "version: 1\ndefault: team\nremote:\n  team: {url: ../cache}\n")
    r = repo.pipe("run")
    assert r.code == 2 and ".pipe-remotes.yaml:3:1: unknown key 'remote'" in r.err, str(r)
    assert "did you mean 'remotes'?" in r.err, str(r)


def test_a_file_url_names_its_path_decoded_and_never_another_host(tmp_path):
    # Before: `file:///…/My%20Drive` pushed into a folder named "My%20Drive" (a file URL writes
    # a space as %20: what a browser or Path.as_uri() gives), and `file://host/path` pushed
    # into the relative folder host/path under the folder pipe ran in.
    repo = Repo(tmp_path / "ws")
    repo.pipefile(PIPEFILE)
    repo.pipe("run", check=True)
    there = tmp_path / "My Drive"
    assert there.as_uri().endswith("/My%20Drive")
    r = repo.pipe("push", "--remote", there.as_uri())
    assert r.code == 0 and there.is_dir() and not (tmp_path / "My%20Drive").exists(), str(r)
    repo.pipe("remote", "add", "team", there.as_uri(), check=True)
    r = repo.pipe("pull", "--remote", "team")
    assert r.code == 0 and "0 objects" in r.out + r.err, str(r)  # the same folder: nothing missing
    r = repo.pipe("push", "--remote", f"file://localhost{there}")
    assert r.code == 0, str(r)
    r = repo.pipe("remote", "add", "other", "file://otherhost/srv/cache")
    assert r.code == 2 and "names the host 'otherhost'" in r.err, str(r)
    assert "hint: write it as file:///otherhost/srv/cache" in r.err, str(r)
    r = repo.pipe("push", "--remote", "file://otherhost/srv/cache")
    assert r.code == 2 and not repo.exists("otherhost"), str(r)
