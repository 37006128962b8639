"""A team sharing a remote, through the real CLI: `pipe status` decides as `pipe run` does
with the default remote (and stays offline with --no-remote); artifact version numbers are
registered in the remote, so `${{artifacts.X:N}}` names the same bytes on every machine,
and a clash between a local number and the remote's is an error, never a silent rebinding."""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import pytest
from workspace_repo import Repo

PIPEFILE = """
version: 1
params:
  lr: 0.1
steps:
  prepare:
    command: python -c "open('build/clean.txt', 'w').write('clean\\n' * 20)"
    outputs: {clean: build/clean.txt}
  train:
    command: python -c "import sys; open(sys.argv[2], 'w').write(open(sys.argv[1]).read() + sys.argv[3])" ${{inputs.data}} ${{outputs.model}} ${{params.lr}}
    inputs: {data: "${{steps.prepare.outputs.clean}}"}
    outputs:
      model: {path: build/model.txt, name: model}
"""


def workspace(root, cache: str) -> Repo:
    root.mkdir(parents=True)
    repo = Repo(root)
    repo.pipefile(PIPEFILE)
    r = repo.pipe("remote", "add", "team", cache, "--default")
    assert r.code == 0, str(r)
    return repo


@pytest.fixture
def pair(tmp_path):
    cache = str(tmp_path / "cache")
    return workspace(tmp_path / "a", cache), workspace(tmp_path / "b", cache), cache


def status_states(repo: Repo, *args) -> dict:
    r = repo.pipe("status", "--json", *args)
    assert r.code in (0, 1), str(r)
    return {s["name"]: (s["state"], s.get("remote")) for s in r.json["steps"]}


# --- pipe status decides as pipe run decides --------------------------------------------------
def test_status_with_a_default_remote_says_what_run_then_does(pair):
    a, b, _ = pair
    assert a.outcomes("--push") == {"prepare": "ran", "train": "ran"}
    # The default remote is consulted by plain `pipe status`, as plain `pipe run` consults it.
    assert status_states(b) == {"prepare": ("restore", "team"), "train": ("restore", "team")}
    r = b.pipe("status")
    assert r.out.count("on remote 'team'") == 2 and r.out.startswith("restore"), str(r)
    # --no-remote: offline, as `pipe run --no-remote` would decide.
    offline = status_states(b, "--no-remote")
    assert {s for s, _ in offline.values()} <= {"run", "pending"}, offline
    assert not (b.root / ".pipe").exists(), "status wrote the workspace"
    # The pre-commit hook's command fails as before: restorable is not in place.
    assert b.pipe("status", "--check").code == 1
    assert b.outcomes() == {"prepare": "restored", "train": "restored"}
    assert status_states(b) == {"prepare": ("fresh", None), "train": ("fresh", None)}
    assert b.pipe("status", "--check").code == 0
    r = b.pipe("status", "--no-remote", "--remote")
    assert r.code == 2 and "--no-remote" in r.err, str(r)


def test_status_with_an_empty_default_remote_plans_every_step_to_run(tmp_path):
    repo = workspace(tmp_path / "a", str(tmp_path / "cache"))
    # A default remote with nothing there yet: every step runs, as `pipe run` would.
    assert {s for s, _ in status_states(repo).values()} <= {"run", "pending"}
    assert repo.outcomes() == {"prepare": "ran", "train": "ran"}


# --- one version number per artifact for a team ----------------------------------------------
def versions(repo: Repo, name: str = "model") -> dict:
    """{version: (digest, local)} of `pipe artifacts show NAME --json`."""
    r = repo.pipe("artifacts", "show", name, "--json")
    assert r.code == 0, str(r)
    return {v["version"]: (v["digest"], v["local"]) for v in r.json["versions"]}


def content_of(repo: Repo, ref: str, dest: str) -> str:
    r = repo.pipe("artifacts", "get", ref, "-o", dest)
    assert r.code == 0, str(r)
    return repo.read(dest)


def test_two_workspaces_sharing_a_remote_agree_on_version_numbers(pair):
    a, b, cache = pair
    assert a.outcomes() == {"prepare": "ran", "train": "ran"}
    ((a_digest, local),) = versions(a).values()
    assert local is True  # made here, not pushed: its number is only this workspace's
    assert "1 (local)" in a.pipe("artifacts").out
    r = a.pipe("push", "--all-jobs", "--json")
    assert r.code == 0 and r.json["registered"] == 1, str(r)
    assert versions(a) == {1: (a_digest, False)}
    assert os.path.exists(os.path.join(cache, "versions", "model", "1.json"))

    # B trains with another lr: its own model:1, different bytes, local.
    assert b.outcomes("-p", "lr=0.3", "--no-remote") == {"prepare": "ran", "train": "ran"}
    ((b_digest, local),) = versions(b).values()
    assert local is True and b_digest != a_digest
    # B's push: the number is A's; an error naming both digests and the fix, nothing rebound.
    r = b.pipe("push", "--all-jobs")
    assert r.code == 1, str(r)
    assert a_digest in r.err and b_digest in r.err and "pipe pull --all-jobs" in r.err, str(r)
    # The summary line does not count the refused version as pushed.
    assert "artifact version" not in r.err.splitlines()[-1], str(r)
    assert versions(b) == {1: (b_digest, True)}
    with open(os.path.join(cache, "versions", "model", "1.json")) as f:
        assert json.load(f)["digest"] == a_digest  # the remote's model:1 is still A's

    # B's pull takes the remote's numbers: model:1 is A's bytes on B too; B's own moves on, said.
    r = b.pipe("pull", "--all-jobs", "--json")
    assert r.code == 0, str(r)
    assert r.json["renumbered"] == [
        {"name": "model", "from": 1, "to": 2, "digest": b_digest, "remote_digest": a_digest}
    ], r.out
    assert "model:1 here was local" in r.err and "yours is now model:2 (local)" in r.err, str(r)
    assert versions(b) == {1: (a_digest, False), 2: (b_digest, True)}
    assert content_of(b, "model:1", "got-1.txt") == a.read("build/model.txt")
    assert content_of(b, "model:2", "got-2.txt") == b.read("build/model.txt")

    # Now B's push registers model:2 (and says so), and A's pull gets it under the same number.
    r = b.pipe("push", "--all-jobs")
    assert r.code == 0 and "registered 1 artifact version number" in r.err, str(r)
    assert versions(b) == {1: (a_digest, False), 2: (b_digest, False)}
    r = a.pipe("pull", "--all-jobs", "--json")
    assert r.code == 0 and r.json["renumbered"] == [], str(r)
    assert versions(a) == {1: (a_digest, False), 2: (b_digest, False)}
    assert content_of(a, "model:2", "got-2.txt") == b.read("build/model.txt")


def test_a_binding_names_the_same_bytes_on_both_machines_after_pull(pair):
    a, b, _ = pair
    # `pipe run --push` claims the numbers of the versions it pushes; a plain pull takes them.
    assert a.outcomes("--push") == {"prepare": "ran", "train": "ran"}
    assert [v[1] for v in versions(a).values()] == [False]
    b.outcomes("-p", "lr=0.3", "--no-remote")
    r = b.pipe("pull")
    assert r.code == 0 and "yours is now model:2 (local)" in r.err, str(r)
    use = (
        PIPEFILE
        + """
  use:
    command: cp ${{inputs.model}} ${{outputs.copy}}
    inputs: {model: "${{artifacts.model:1}}"}
    outputs: {copy: build/copy.txt}
"""
    )
    for repo in (a, b):
        repo.pipefile(use)
        repo.outcomes("use", "--no-remote")
    assert a.read("build/copy.txt") == b.read("build/copy.txt") == a.read("build/model.txt")


USE_MODEL_1 = (
    PIPEFILE
    + """
  use:
    command: cp ${{inputs.model}} ${{outputs.copy}}
    inputs: {model: "${{artifacts.model:1}}"}
    outputs: {copy: build/copy.txt}
"""
)


def test_a_binding_of_a_local_number_the_remote_gave_to_other_bytes_is_an_error(pair):
    a, b, _ = pair
    assert a.outcomes("--push") == {"prepare": "ran", "train": "ran"}
    b.outcomes("-p", "lr=0.3", "--no-remote")  # B's own model:1, local, other bytes than A's
    ((b_digest, local),) = versions(b).values()
    ((a_digest, _),) = versions(a).values()
    assert local is True
    b.pipefile(USE_MODEL_1)
    # Run and status decide alike: the committed text would read A's bytes on A's machine.
    for args in (("run", "use", "-p", "lr=0.3"), ("status", "use", "-p", "lr=0.3")):
        r = b.pipe(*args)
        assert r.code == 2 and a_digest in r.err and b_digest in r.err, str(r)
        assert "reads model:1" in r.err and "pipe pull --all-jobs" in r.err, str(r)
    assert not b.exists("build/copy.txt")
    # Offline, the workspace's own numbers, as without a remote.
    assert b.outcomes("use", "-p", "lr=0.3", "--no-remote")["use"] == "ran"
    # After the pull, model:1 is A's bytes here too, and the binding reads them.
    assert b.pipe("pull", "--all-jobs").code == 0
    assert b.outcomes("use", "-p", "lr=0.3")["use"] == "ran"
    assert b.read("build/copy.txt") == a.read("build/model.txt")


def test_without_a_remote_versions_are_numbered_as_before_and_not_marked(tmp_path):
    repo = Repo(tmp_path)
    repo.pipefile(PIPEFILE)
    repo.outcomes()
    r = repo.pipe("artifacts", "show", "model", "--json")
    assert [(v["version"], v["local"]) for v in r.json["versions"]] == [(1, False)]
    assert "(local)" not in repo.pipe("artifacts").out


def test_a_path_remote_claims_a_number_once_when_two_pushes_race(tmp_path):
    """The create-if-absent itself: many claims of one number at once, one wins."""
    import concurrent.futures as cf

    from pipefile.remote import numbers
    from pipefile.remote.config import RemoteSpec
    from pipefile.remote.transport import Remote

    cache = str(tmp_path / "cache")
    spec = RemoteSpec("team", cache)
    records = [
        {"name": "model", "version": 1, "kind": "file", "digest": f"{i:032x}", "size": 1, "path": "m"}
        for i in range(16)
    ]

    def claim(rec):
        remote = Remote(spec)
        try:
            return numbers.claim(remote, rec)
        finally:
            remote.close()

    with cf.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(claim, records))
    winners = [rec for rec, held in zip(records, results) if held is None]
    assert len(winners) == 1
    with open(os.path.join(cache, "versions", "model", "1.json")) as f:
        assert json.load(f)["digest"] == winners[0]["digest"]
    assert all(held["digest"] == winners[0]["digest"] for held in results if held is not None)


# --- the claim on SFTP (a real sshd) and S3 (moto's server) ---------------------------------
@pytest.fixture(scope="module")
def sftp():
    import servers

    tmp = tempfile.mkdtemp(prefix="pipe-sshd-")
    proc, server = servers.start_sshd(tmp)
    try:
        yield server
    finally:
        servers.stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def s3():
    import servers

    tmp = tempfile.mkdtemp(prefix="pipe-moto-")
    proc, server = servers.start_moto(tmp)
    try:
        yield server
    finally:
        servers.stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.parametrize("backend", ["sftp", "s3"])
def test_a_clash_is_refused_on_sftp_and_s3(tmp_path, backend, request):
    server = request.getfixturevalue(backend)
    url = server.url("numbers") if backend == "sftp" else "s3://pipe-cache/numbers"
    env = server.env() if backend == "s3" else None
    a, b = Repo(tmp_path / "a"), Repo(tmp_path / "b")
    for repo in (a, b):
        (repo.root).mkdir()
        repo.pipefile(PIPEFILE)
        repo.pipe("remote", "add", "team", url, "--default", *server.options(), check=True)
    a.outcomes("--push", env=env)
    b.outcomes("-p", "lr=0.3", "--no-remote")
    (a_digest, _), (b_digest, _) = versions(a)[1], versions(b)[1]
    r = b.pipe("push", env=env)
    assert r.code == 1 and a_digest in r.err and b_digest in r.err, str(r)
    r = b.pipe("pull", "--all-jobs", env=env)
    assert r.code == 0 and "yours is now model:2 (local)" in r.err, str(r)
    assert versions(b) == {1: (a_digest, False), 2: (b_digest, True)}
    assert b.pipe("push", "--all-jobs", env=env).code == 0
    assert versions(b) == {1: (a_digest, False), 2: (b_digest, False)}


def test_a_number_the_remote_holds_is_not_reused_here_after_a_plain_pull(pair):
    """B pulls (plain) only what its steps need: the remote's other numbers stay the remote's,
    so B's next version is numbered past them, not into a clash."""
    a, b, _ = pair
    a.outcomes("--push")
    a.outcomes("--push", "-p", "lr=0.2")
    assert sorted(versions(a)) == [1, 2]
    # B's Pipefile asks for lr 0.2 (a's model:2): a plain pull fetches that one only.
    b.pipefile(PIPEFILE.replace("lr: 0.1", "lr: 0.2"))
    assert b.pipe("pull").code == 0
    assert versions(b) == {2: (versions(a)[2][0], False)}
    r = b.pipe("artifacts", "get", "model:1", "-o", "x")
    assert r.code == 2 and "its content was not pulled" in r.err and "pipe pull --all-jobs" in r.err, str(r)
    assert b.outcomes("-p", "lr=0.5", "--no-remote")["train"] == "ran"
    assert sorted(versions(b)) == [2, 3] and versions(b)[3][1] is True
    assert b.pipe("push").code == 0  # model:3 was free: no clash
