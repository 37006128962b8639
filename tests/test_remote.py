"""Remotes through the real CLI: `pipe remote`, `pipe push/pull`, `pipe run --remote/--push`,
`pipe status --remote`, against a local-path remote, a real OpenSSH sshd (SFTP) and moto's
S3 server, all on 127.0.0.1; and the faults: unreachable, wrong credentials, a tampered
object, an interrupted push, two pushes at once, a scheme whose extra is not installed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

import pytest
import servers
import xxhash
from workspace_repo import PIPE, Repo

PIPEFILE = """
version: 1
steps:
  prepare:
    command: python src/prepare.py ${{outputs.clean}}
    outputs: {clean: build/clean.txt}
    code: [src/prepare.py]
  train:
    command: python src/train.py ${{inputs.data}} ${{outputs.model}}
    inputs: {data: "${{steps.prepare.outputs.clean}}"}
    outputs: {model: build/model/}
    code: [src/train.py]
  evaluate:
    command: python src/evaluate.py ${{inputs.model}} ${{outputs.score}}
    inputs: {model: "${{steps.train.outputs.model}}"}
    outputs: {score: build/score.txt}
    code: [src/evaluate.py]
"""
PREPARE = "import sys\nopen(sys.argv[1], 'w').write('clean data\\n' * 50)\n"
TRAIN = (
    "import os, sys\nd = sys.argv[2]\nos.makedirs(d + '/layers', exist_ok=True)\n"
    "data = open(sys.argv[1]).read()\n"
    "open(d + '/weights.bin', 'wb').write(data.encode() * 3)\n"
    "open(d + '/layers/one.txt', 'w').write('layer one\\n')\n"
)
EVALUATE = (
    "import sys\nopen(sys.argv[2], 'w').write('score %d\\n' % len(open(sys.argv[1] + '/weights.bin', 'rb').read()))\n"
)


def make_workspace(root) -> Repo:
    repo = Repo(root)
    root.mkdir(parents=True, exist_ok=True)
    repo.pipefile(PIPEFILE)
    repo.write("src/prepare.py", PREPARE)
    repo.write("src/train.py", TRAIN)
    repo.write("src/evaluate.py", EVALUATE)
    return repo


@pytest.fixture
def first(tmp_path) -> Repo:
    return make_workspace(tmp_path / "first")


@pytest.fixture
def second(tmp_path) -> Repo:
    return make_workspace(tmp_path / "second")


def outcomes(repo: Repo, *args, env=None, expect=0) -> dict:
    r = repo.pipe("run", "--json", *args, env=env)
    assert r.code == expect, str(r)
    return {s["name"]: s["outcome"] for s in r.json["steps"]}


def push(repo: Repo, *args, env=None, expect=0) -> dict:
    r = repo.pipe("push", "--json", *args, env=env)
    assert r.code == expect, str(r)
    return r.json


def remote_objects(folder: str) -> dict:
    """{digest: path} of the objects a file-system remote holds."""
    out = {}
    base = os.path.join(folder, "objects")
    for d in os.listdir(base) if os.path.isdir(base) else []:
        for f in os.listdir(os.path.join(base, d)):
            out[d + f] = os.path.join(base, d, f)
    return out


def assert_objects_intact(folder: str, temps_left: bool = False) -> None:
    objs = remote_objects(folder)
    assert objs
    for digest, path in objs.items():
        with open(path, "rb") as f:
            assert xxhash.xxh3_128_hexdigest(f.read()) == digest, path
    if not temps_left:
        assert not [n for n in os.listdir(os.path.join(folder, "tmp"))], "temp uploads left behind"


# --- configuration ---------------------------------------------------------------------------
def test_a_machine_local_option_goes_to_the_local_file_unless_shared_is_asked(first):
    """key_filename is a path on this machine: in the committed file it would be wrong on every
    other machine (and tell everyone where the key is)."""
    r = first.pipe("remote", "add", "box", "sftp://me@host/cache", "-o", "key_filename=~/.ssh/ci", "--default")
    assert r.code == 0, str(r)
    assert "added" in r.out and os.path.join(".pipe", "remotes.yaml") in r.out, str(r)
    assert "not to the committed .pipe-remotes.yaml: key_filename names a path on this machine" in r.err
    assert "--shared" in r.err
    assert not first.exists(".pipe-remotes.yaml") and "key_filename" in first.read(".pipe/remotes.yaml")
    r = first.pipe("remote", "add", "ca", "s3://b/x", "-o", "endpoint_url=http://h:9000", "-o", "ca_bundle=/etc/ca.pem")
    assert r.code == 0 and "ca_bundle names a path" in r.err and not first.exists(".pipe-remotes.yaml"), str(r)
    # Asked for: the committed file, with a warning.
    r = first.pipe("remote", "add", "shared", "sftp://me@host/c2", "-o", "key_filename=/keys/ci", "--shared")
    assert r.code == 0 and "key_filename" in first.read(".pipe-remotes.yaml"), str(r)
    assert "warning: key_filename of remote 'shared' names a path on this machine" in r.err
    # Nothing machine-local: the committed file, as ever.
    r = first.pipe("remote", "add", "plain", "s3://b/y", "-o", "endpoint_url=http://h:9000")
    assert r.code == 0 and "plain" in first.read(".pipe-remotes.yaml") and not r.err, str(r)
    got = {x["name"]: x["file"] for x in first.pipe("remote", "list", "--json", check=True).json["remotes"]}
    assert got["box"] == got["ca"] == os.path.join(".pipe", "remotes.yaml")
    assert got["shared"] == got["plain"] == ".pipe-remotes.yaml"


def test_remote_add_list_remove_and_bad_urls(first, tmp_path):
    r = first.pipe("remote", "add", "team", "../shared-cache", "--default")
    assert r.code == 0, str(r)
    r = first.pipe("remote", "add", "scratch", str(tmp_path / "scratch"), "--local")
    assert r.code == 0, str(r)
    r = first.pipe("remote", "list", "--json")
    assert r.code == 0, str(r)
    got = {x["name"]: x for x in r.json["remotes"]}
    assert r.json["default"] == "team" and got["team"]["file"] == ".pipe-remotes.yaml"
    assert got["scratch"]["file"] == os.path.join(".pipe", "remotes.yaml")
    assert "never put credentials" in first.read(".pipe-remotes.yaml")

    r = first.pipe("remote", "add", "team", "/elsewhere")
    assert r.code == 2 and "already exists" in r.err and "--force" in r.err
    # A password in a committed URL is refused, and never echoed.
    r = first.pipe("remote", "add", "leak", "sftp://me:hunter2secret@host/path")
    assert r.code == 2 and "hunter2secret" not in r.err + r.out and "me:***@host" in r.err
    r = first.pipe("pull", "--remote", "s3://AKIAEXAMPLE:hunter3secret@bucket/x")
    assert r.code == 2 and "never credentials" in r.err and "hunter3secret" not in r.out + r.err, str(r)
    r = first.pipe("remote", "add", "keyed", "s3://b/x", "-o", "secret=abcd1234zz")
    assert r.code == 2 and "is a credential" in r.err and "abcd1234zz" not in r.err
    r = first.pipe("remote", "add", "keyed", "s3://b/x", "-o", "secret=abcd1234zz", "--local")
    assert r.code == 0 and "abcd1234zz" not in r.out + r.err
    r = first.pipe("remote", "list")
    assert "secret=***" in r.out and "abcd1234zz" not in r.out
    first.pipe("remote", "remove", "keyed", check=True)
    r = first.pipe("remote", "add", "odd", "s4://bucket/x")
    assert r.code == 2 and "unknown URL scheme 's4://'" in r.err and "did you mean 's3'" in r.err
    r = first.pipe("push", "--remote", "taem")
    assert r.code == 2 and "no remote 'taem'" in r.err and "did you mean 'team'" in r.err
    r = first.pipe("status", "--remote", "train")  # --remote's value is optional: the step was taken
    assert r.code == 2 and "'train' is a step" in r.err and "train --remote" in r.err, str(r)

    r = first.pipe("remote", "remove", "team")
    assert r.code == 0 and ".pipe-remotes.yaml" in r.out
    r = first.pipe("remote", "list", "--json")
    assert [x["name"] for x in r.json["remotes"]] == ["scratch"] and r.json["default"] is None
    r = first.pipe("remote", "remove", "team")
    assert r.code == 2 and "no remote 'team'" in r.err


def test_a_scheme_whose_extra_is_missing_names_the_pip_line(first):
    scheme, module = next(
        ((s, m) for s, m in (("gs", "gcsfs"), ("az", "adlfs")) if importlib.util.find_spec(m) is None), (None, None)
    )
    if scheme is None:
        pytest.skip("gcsfs and adlfs are both installed: no scheme without its extra to try")
    r = first.pipe("remote", "add", "cloud", f"{scheme}://bucket/cache", "--default")
    assert r.code == 0 and f"pip install {module}" in r.err  # a warning: it can be installed later
    for args in (("push",), ("pull",), ("run", "--remote"), ("run", "--push"), ("status", "--remote")):
        r = first.pipe(*args)
        assert r.code == 2, str(r)
        assert f"needs the '{module}' package" in r.err and f"pip install {module}" in r.err, str(r)
    # The default remote is only a cache for `pipe run`: without its package, work locally, and say so.
    r = first.pipe("run")
    assert r.code == 0 and f"pip install {module}" in r.err and "working locally" in r.err, str(r)
    assert first.pipe("run", "--no-remote").err.count("warning") == 0


# --- a local-path remote ---------------------------------------------------------------------
def test_two_workspaces_sharing_a_remote_second_restores_without_running(first, second, tmp_path):
    cache = str(tmp_path / "cache")
    for ws in (first, second):
        assert ws.pipe("remote", "add", "team", cache, "--default").code == 0
    assert outcomes(first) == {"prepare": "ran", "train": "ran", "evaluate": "ran"}
    pushed = push(first)
    assert pushed["entries"] == 3 and pushed["objects"] > 0 and pushed["errors"] == []
    assert_objects_intact(cache)
    again = push(first)
    assert (again["entries"], again["objects"], again["already"]) == (0, 0, 3)
    entry = next((tmp_path / "cache" / "actions").rglob("*.json"))
    good = entry.read_bytes()
    os.chmod(entry, 0o644)
    entry.write_bytes(good[:40])  # cut short: the next push puts it back
    again = push(first)
    assert (again["entries"], again["already"]) == (1, 2) and entry.read_bytes() == good

    r = second.pipe("status", "--remote", "--json")
    states = {s["name"]: (s["state"], s.get("remote")) for s in r.json["steps"]}
    assert states == {n: ("restore", "team") for n in ("prepare", "train", "evaluate")}
    assert not os.path.exists(second.root / ".pipe" / "store" / "objects") or not os.listdir(
        second.root / ".pipe" / "store" / "objects"
    ), "status downloaded something"
    r = second.pipe("status", "--remote", "--check")
    assert r.code == 1 and "on remote 'team'" in r.out

    assert outcomes(second) == {"prepare": "restored", "train": "restored", "evaluate": "restored"}
    for f in ("build/clean.txt", "build/model/weights.bin", "build/model/layers/one.txt", "build/score.txt"):
        assert second.read(f) == first.read(f)
    assert second.pipe("status", "--check").code == 0
    # What came from the remote is the workspace's like anything built here: gc keeps it,
    # verify finds it intact.
    r = second.pipe("gc", "--json")
    assert r.code == 0 and r.json["deleted"]["objects"] == 0 and r.json["kept"]["cache_entries"] == 3, str(r)
    assert second.pipe("verify").code == 0
    assert outcomes(second, "--no-remote") == {n: "fresh" for n in ("prepare", "train", "evaluate")}
    second.write("build/score.txt", "edited")
    assert outcomes(second, "--no-remote")["evaluate"] == "restored"  # from the local store now


def test_a_change_to_evaluation_runs_only_evaluation_and_downloads_only_what_it_reads(first, second, tmp_path):
    cache = str(tmp_path / "cache")
    first.pipe("remote", "add", "team", cache, "--default", check=True)
    outcomes(first)
    push(first)
    second.pipe("remote", "add", "team", cache, check=True)  # not the default: named below
    second.write("src/evaluate.py", EVALUATE.replace("score", "accuracy"))

    r = second.pipe("status", "--remote=team", "--json")
    states = {s["name"]: s["state"] for s in r.json["steps"]}
    assert states == {"prepare": "restore", "train": "restore", "evaluate": "run"}
    assert not any(s.get("stays_on_remote") for s in r.json["steps"])  # no targets: all are asked for
    r = second.pipe("status", "--remote=team", "--json", "evaluate")
    assert [s["name"] for s in r.json["steps"] if s.get("stays_on_remote")] == ["prepare"], str(r)
    assert "stays on the remote" in second.pipe("status", "--remote=team", "evaluate").out

    r = second.pipe("run", "--json", "--remote=team", "--push", "--summary", "ci.json", "evaluate")
    assert r.code == 0, str(r)
    doc = json.loads(second.read("ci.json"))
    assert doc["remote"]["name"] == "team" and doc["remote"]["error"] is None
    assert doc["remote"]["downloaded_objects"] > 0 and doc["push"]["entries"] == 1 and doc["push"]["ok"]
    assert {s["name"]: s.get("remote") for s in doc["steps"]} == {"prepare": "team", "train": "team", "evaluate": None}
    got = {s["name"]: s["outcome"] for s in r.json["steps"]}
    # train's model is read by evaluate, which runs: downloaded. prepare's output is read by
    # nothing that runs and was not asked for: it stays on the remote.
    assert got == {"prepare": "on-remote", "train": "restored", "evaluate": "ran"}
    assert not second.exists("build/clean.txt")
    # Exactly the model moved: its two folder manifests and two files; prepare's output did not.
    assert doc["remote"]["downloaded_objects"] == 4
    clean = xxhash.xxh3_128_hexdigest(first.read("build/clean.txt").encode())
    assert not (second.root / ".pipe" / "store" / "objects" / clean[:2] / clean[2:]).exists()
    assert second.read("build/model/weights.bin") == first.read("build/model/weights.bin")
    assert "pushed 1 run-cache entry, 1 object" in r.err and "1 already in the remote" in r.err

    # The first workspace now gets the new evaluation from the remote, without running it.
    first.write("src/evaluate.py", EVALUATE.replace("score", "accuracy"))
    assert outcomes(first) == {"prepare": "fresh", "train": "fresh", "evaluate": "restored"}
    assert first.read("build/score.txt").startswith("accuracy")


def test_pull_then_run_restores_from_the_local_store(first, second, tmp_path):
    cache = str(tmp_path / "cache")
    first.pipe("remote", "add", "team", cache, check=True)
    outcomes(first)
    r = second.pipe("pull", "--remote", str(tmp_path / "typo"))  # nothing there: say so
    assert r.code == 0 and "holds nothing pushed by pipe" in r.err and "URL is wrong" in r.err, str(r)
    push(first, "--remote", "team", "train")  # only train's entry: prepare is not there
    r = second.pipe("pull", "--json", "--remote", cache)
    assert r.code == 0, str(r)
    assert r.json["entries"] == 0 and r.json["must_run"] == ["prepare", "train", "evaluate"]
    push(first, "--remote", "team")
    r = second.pipe("pull", "--json", "--remote", cache)
    assert r.code == 0 and r.json["entries"] == 3 and r.json["must_run"] == [], str(r)
    assert outcomes(second, "--no-remote") == {n: "restored" for n in ("prepare", "train", "evaluate")}


def test_artifact_versions_travel_with_all_jobs(tmp_path):
    a, b = Repo(tmp_path / "a"), Repo(tmp_path / "b")
    for ws in (a, b):
        ws.root.mkdir()
        ws.pipefile("""
            version: 1
            steps:
              train:
                command: mkdir -p ${{outputs.model}} && echo weights > ${{outputs.model}}/w
                outputs: {model: {path: build/model, name: model}}
            """)
    outcomes(a)
    cache = str(tmp_path / "cache")
    r = a.pipe("push", "--json", "--all-jobs", "--remote", cache)
    assert r.code == 0 and r.json["artifacts"] == 1 and r.json["entries"] == 1, str(r)
    # Records pipe would never write are ignored, not trusted: a name with '/', a size that
    # is no number, JSON nested past what the parser takes.
    rec = json.loads(next((tmp_path / "cache" / "artifacts" / "model").glob("*.json")).read_text())
    for i, bad in enumerate((dict(rec, name="../../evil"), dict(rec, size="big"), dict(rec, digest="x" * 32))):
        (tmp_path / "cache" / "artifacts" / "model" / f"bad{i}.json").write_text(json.dumps(bad))
    (tmp_path / "cache" / "artifacts" / "model" / "deep.json").write_text("[" * 100000 + "]" * 100000)
    r = b.pipe("pull", "--json", "--all-jobs", "--remote", cache)
    assert r.code == 0 and r.json["artifacts"] == 1 and r.json["entries"] == 1, str(r)
    r = b.pipe("artifacts", "get", "model", "-o", "got")
    assert r.code == 0, str(r)
    assert b.read("got/w") == "weights\n"


def test_an_http_remote_restores_and_refuses_pushes(first, second, tmp_path):
    servers.need(importlib.util.find_spec("aiohttp") is not None, "aiohttp (fsspec's http) not installed")
    cache = tmp_path / "cache"
    first.pipe("remote", "add", "team", str(cache), "--default", check=True)
    outcomes(first)
    push(first)
    port = servers.free_port()
    log = open(tmp_path / "http.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "-b", "127.0.0.1", str(port)],
        cwd=cache,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        servers.wait_for_port(port, server, "http.server")
        second.pipe("remote", "add", "web", f"http://127.0.0.1:{port}", "--default", check=True)
        assert outcomes(second) == {n: "restored" for n in ("prepare", "train", "evaluate")}
        assert second.read("build/score.txt") == first.read("build/score.txt")
        r = second.pipe("push")
        assert r.code == 1 and "is read-only (http://)" in r.err, str(r)
    finally:
        servers.stop(server)


# --- faults ----------------------------------------------------------------------------------
def test_a_tampered_remote_object_is_refused_and_never_restored(first, second, tmp_path):
    cache = str(tmp_path / "cache")
    for ws in (first, second):
        ws.pipe("remote", "add", "team", cache, "--default", check=True)
    outcomes(first)
    push(first)
    weights = first.read("build/model/weights.bin").encode()
    digest = xxhash.xxh3_128_hexdigest(weights)
    path = remote_objects(cache)[digest]
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(b"evil " + weights[5:])

    r = second.pipe("pull", "--json")
    assert r.code == 1, str(r)
    assert any(digest[:12] in e and "does not match its name" in e for e in r.json["errors"]), str(r)
    assert not (second.root / ".pipe" / "store" / "objects" / digest[:2] / digest[2:]).exists()

    r = second.pipe("run", "--json")
    assert r.code == 0, str(r)
    got = {s["name"]: s["outcome"] for s in r.json["steps"]}
    assert got["train"] == "ran" and got["prepare"] == "restored", str(r)
    assert "does not match its name" in r.err and "ran the step instead" in r.err
    assert second.read("build/model/weights.bin").encode() == weights


def test_a_remote_object_larger_than_listed_is_cut_off_and_refused(first, second, tmp_path):
    cache = str(tmp_path / "cache")
    for ws in (first, second):
        ws.pipe("remote", "add", "team", cache, "--default", check=True)
    outcomes(first)
    push(first)
    weights = first.read("build/model/weights.bin").encode()
    path = remote_objects(cache)[xxhash.xxh3_128_hexdigest(weights)]
    os.chmod(path, 0o644)
    with open(path, "ab") as f:  # what a lying remote could stream without end
        f.write(b"\0" * (4 << 20))
    r = second.pipe("pull", "--json")
    assert r.code == 1 and any(f"larger than the {len(weights)} bytes" in e for e in r.json["errors"]), str(r)
    assert second.pipe("verify").code == 0
    assert not list((second.root / ".pipe" / "store" / "tmp").glob("dl-*")), "a refused download left a temp file"


def test_a_remote_folder_that_would_write_outside_its_output_is_refused(first, second, tmp_path):
    cache = tmp_path / "cache"
    for ws in (first, second):
        ws.pipe("remote", "add", "team", str(cache), "--default", check=True)
    outcomes(first)
    push(first)
    key = {s["name"]: s["key"] for s in first.pipe("status", "--json").json["steps"]}["train"]
    entry_path = cache / "actions" / key[:2] / (key[2:] + ".json")
    entry = json.loads(entry_path.read_text())
    tree = entry["outputs"]["model"]["digest"]
    data = (cache / "objects" / tree[:2] / tree[2:]).read_bytes()
    magic, listing = data.split(b"\n", 1)
    entries = json.loads(listing)
    some_file = next(e for e in entries if e[1] == "f")
    entries.append(["..", "d", tree, 0])
    entries.append(["../../escaped.txt", "f", some_file[2], some_file[3]])
    evil = magic + b"\n" + json.dumps(entries, sort_keys=True, separators=(",", ":")).encode()
    evil_digest = xxhash.xxh3_128_hexdigest(evil)
    (cache / "objects" / evil_digest[:2]).mkdir(exist_ok=True)
    (cache / "objects" / evil_digest[:2] / evil_digest[2:]).write_bytes(evil)
    entry["outputs"]["model"]["digest"] = evil_digest
    os.chmod(entry_path, 0o644)
    entry_path.write_text(json.dumps(entry))

    r = second.pipe("run", "--json")
    assert r.code == 0, str(r)
    got = {s["name"]: s["outcome"] for s in r.json["steps"]}
    assert got["train"] == "ran" and "unsafe entry" in r.err, str(r)
    assert not list(tmp_path.rglob("escaped.txt"))
    assert second.read("build/model/weights.bin") == first.read("build/model/weights.bin")


def _entry_file(cache, repo: Repo, step: str):
    key = {s["name"]: s["key"] for s in repo.pipe("status", "--json").json["steps"]}[step]
    return cache / "actions" / key[:2] / (key[2:] + ".json")


def _put_object(cache, data: bytes) -> str:
    digest = xxhash.xxh3_128_hexdigest(data)
    (cache / "objects" / digest[:2]).mkdir(parents=True, exist_ok=True)
    (cache / "objects" / digest[:2] / digest[2:]).write_bytes(data)
    return digest


def test_malformed_remote_entries_are_ignored_never_trusted(first, second, tmp_path):
    cache = tmp_path / "cache"
    for ws in (first, second):
        ws.pipe("remote", "add", "team", str(cache), "--default", check=True)
    outcomes(first)
    push(first)
    entry_path = _entry_file(cache, first, "prepare")
    good = entry_path.read_text()
    size = json.loads(good)["outputs"]["clean"]["size"]
    os.chmod(entry_path, 0o644)
    for bad in (
        good.replace(f'"size": {size}', '"size": Infinity'),
        good.replace(f'"size": {size}', '"size": -5'),
        good.replace(f'"size": {size}', '"size": 1e400'),
        good.replace(f'"size": {size}', f'"size": "{size}"'),
        good.replace('"kind": "file", "size"', '"kind": "file", "exec": "yes", "size"'),
        good.replace(f'"size": {size}', '"size": 100000000000000000000000000000'),
    ):
        assert bad != good
        entry_path.write_text(bad)
        r = second.pipe("status", "--remote", "--json")
        assert r.code == 0 and "internal error" not in r.err, str(r)
        assert {s["name"]: s["state"] for s in r.json["steps"]}["prepare"] == "run", bad
    r = second.pipe("run", "--json")
    assert r.code == 0 and {s["name"]: s["outcome"] for s in r.json["steps"]} == {
        "prepare": "ran",
        "train": "restored",
        "evaluate": "restored",
    }, str(r)
    assert second.pipe("verify").code == 0


def test_a_pulled_folder_with_unsafe_names_or_links_never_enters_the_run_cache(first, second, tmp_path):
    cache = tmp_path / "cache"
    for ws in (first, second):
        ws.pipe("remote", "add", "team", str(cache), "--default", check=True)
    outcomes(first)
    push(first)
    assert outcomes(second) == {n: "restored" for n in ("prepare", "train", "evaluate")}
    entry_path = _entry_file(cache, first, "train")
    entry = json.loads(entry_path.read_text())
    tree = entry["outputs"]["model"]["digest"]
    magic, listing = (cache / "objects" / tree[:2] / tree[2:]).read_bytes().split(b"\n", 1)
    some_file = next(e for e in json.loads(listing) if e[1] == "f")
    # Every object the evil folders name is already in the second store: only the
    # manifest itself (and a link's target) would be new.
    evil_names = [["../../../../escaped.txt", "f", some_file[2], some_file[3]], ["layers", "d", tree, 0]]
    evil_link = [
        ["escape", "l", _put_object(cache, str(tmp_path / "outside").encode()), 0],
        ["up", "l", _put_object(cache, b"../../x"), 0],
    ]
    os.chmod(entry_path, 0o644)
    local_entry = _entry_file(second.root / ".pipe" / "store", second, "train")
    too_deep = b"[" * 100000 + b"]" * 100000
    for body in (json.dumps(evil_names).encode(), json.dumps(evil_link).encode(), too_deep):
        evil = magic + b"\n" + body
        entry["outputs"]["model"]["digest"] = _put_object(cache, evil)
        entry_path.write_text(json.dumps(entry))
        local_entry.unlink()  # as after gc: the next pull must fetch the remote's entry
        second.write("build/model/weights.bin", "edited")  # train must be restored or run
        r = second.pipe("pull", "--json")
        assert r.code == 1 and any("refused" in e for e in r.json["errors"]), str(r)
        assert not local_entry.exists(), "an unsafe folder entered the local run cache"
        r = second.pipe("run", "--json")
        assert r.code == 0 and {s["name"]: s["outcome"] for s in r.json["steps"]}["train"] == "ran", str(r)
        assert "refused" in r.err
        assert second.read("build/model/weights.bin") == first.read("build/model/weights.bin")
        assert not list(tmp_path.rglob("escaped.txt")) and not os.path.lexists(second.root / "build/model/escape")
        assert second.pipe("verify").code == 0
        second.pipe("run", "--no-remote", check=True)  # the local run cache holds nothing unsafe


def side_model_report(tmp_path) -> tuple:
    """Two workspaces, a and b, of side -> report <- model sharing the remote `cache`, a's
    built and pushed: (a, b, cache)."""
    text = """
        version: 1
        steps:
          side:
            command: python -c "open('build/side.txt', 'w').write('side v2')"
            outputs: {side: build/side.txt}
          model:
            command: python -c "import os; open('build/model.txt', 'w').write(os.urandom(8).hex())"
            outputs: {model: build/model.txt}
          report:
            command: cat build/side.txt build/model.txt > build/report.txt
            inputs: {side: "${{steps.side.outputs.side}}", model: "${{steps.model.outputs.model}}"}
            outputs: {report: build/report.txt}
        """
    a, b = Repo(tmp_path / "a"), Repo(tmp_path / "b")
    cache = tmp_path / "cache"
    for ws in (a, b):
        ws.root.mkdir()
        ws.pipefile(text)
        ws.write("build/.keep", "")
        ws.pipe("remote", "add", "team", str(cache), "--default", check=True)
    outcomes(a)
    push(a)
    return a, b, cache


def test_a_step_left_on_the_remote_is_brought_back_when_a_fallback_makes_its_reader_run(tmp_path):
    """report reads side and model; `pipe run report model` leaves side on the remote. When
    model's restore fails and its rerun makes other bytes (training is rarely bit-exact),
    report must run: on side's remote content, never on a stale side.txt in the workspace."""
    a, b, cache = side_model_report(tmp_path)
    model = xxhash.xxh3_128_hexdigest(a.read("build/model.txt").encode())
    path = remote_objects(str(cache))[model]
    os.chmod(path, 0o644)
    with open(path, "w") as f:
        f.write("damaged")
    b.write("build/side.txt", "side v1 (stale)")
    r = b.pipe("run", "--json", "report", "model")
    assert r.code == 0, str(r)
    got = {s["name"]: s["outcome"] for s in r.json["steps"]}
    assert got["model"] == "ran" and got["report"] == "ran", str(r)
    assert b.read("build/report.txt") == "side v2" + b.read("build/model.txt")
    assert b.pipe("status", "--check", "report").code == 0


def test_an_unreachable_remote_falls_back_to_local_work(first):
    port = servers.free_port()  # nothing listens there
    first.pipe("remote", "add", "gone", f"sftp://nobody@127.0.0.1:{port}/cache", "--default", check=True)
    r = first.pipe("run", "--json")
    assert r.code == 0, str(r)
    assert {s["outcome"] for s in r.json["steps"]} == {"ran"}
    assert "remote 'gone'" in r.err and "unreachable" in r.err and "working locally" in r.err
    r = first.pipe("run")  # nothing to decide: the remote is not even contacted
    assert r.code == 0 and "unreachable" not in r.err
    r = first.pipe("push")
    assert r.code == 1 and "unreachable" in r.err and "hint:" in r.err, str(r)
    # A password (allowed only in the local file) never shows, not even in transport errors.
    first.pipe("remote", "add", "pw", f"sftp://me:Pa55wordXYZ@127.0.0.1:{port}/c", "--local", check=True)
    for args in (("push", "--remote", "pw"), ("pull", "--remote", "pw"), ("remote", "list")):
        r = first.pipe(*args)
        assert "Pa55wordXYZ" not in r.out + r.err and "me:***@127.0.0.1" in r.out + r.err, str(r)
    # Nor in the job's record of its command line (shown by `pipe jobs show`, served, exported).
    first.write("src/evaluate.py", EVALUATE + "# changed\n")
    url = f"sftp://me:Pa55wordXYZ@127.0.0.1:{port}/c"
    for flag in (["--remote", url], [f"--remote={url}"]):
        r = first.pipe("run", "--json", *flag)
        assert r.code == 0 and "Pa55wordXYZ" not in r.out + r.err, str(r)
        shown = first.pipe("jobs", "show", str(r.json["job"]), "--json")
        assert shown.code == 0 and "Pa55wordXYZ" not in shown.out and "me:***@127.0.0.1" in shown.out, str(shown)


def test_a_folder_remote_without_permission_says_so_not_credentials(tmp_path):
    # (Tests run as root in CI, where chmod cannot deny anything: the mapping is checked directly.)
    from pipefile.remote.config import RemoteSpec
    from pipefile.remote.transport import Remote

    remote = Remote(RemoteSpec("team", str(tmp_path)))
    e = remote.error(PermissionError(13, "Permission denied", str(tmp_path / "objects")), "uploading object ab12")
    assert "permission denied" in e.message and "authenticate" not in e.message and "may read" in e.hint


def test_an_interrupted_push_is_completed_by_the_next_one(first, tmp_path):
    cache = tmp_path / "cache"
    first.pipe("remote", "add", "team", str(cache), "--default", check=True)
    outcomes(first)
    weights = xxhash.xxh3_128_hexdigest(first.read("build/model/weights.bin").encode())
    # A file where a folder of objects must go: every upload into it fails, the rest go up.
    (cache / "objects").mkdir(parents=True)
    (cache / "objects" / weights[:2]).write_text("in the way")
    r = first.pipe("push", "--json")
    assert r.code == 1, str(r)
    half = r.json
    assert half["errors"] and half["objects"] > 0
    # Entries go up only after their objects: train's (and so nothing built on it) is missing.
    assert half["entries"] < 3
    assert len(list((cache / "actions").rglob("*.json"))) == half["entries"]
    (cache / "objects" / weights[:2]).unlink()
    rest = push(first)
    assert rest["errors"] == [] and rest["entries"] == 3 - half["entries"]
    assert rest["objects"] == 1, "only the missing object moves again"
    assert_objects_intact(str(cache))


def test_a_push_killed_midway_is_completed_by_the_next_one(first, tmp_path):
    cache = tmp_path / "cache"
    first.pipe("remote", "add", "team", str(cache), "--default", check=True)
    first.write(
        "src/train.py", TRAIN + "for i in range(300):\n    open(d + '/layers/f%d' % i, 'w').write(str(i) * 2000)\n"
    )
    outcomes(first)
    env = dict(os.environ, PIPE_PLAIN="1")
    proc = subprocess.Popen(
        PIPE + ["push", "-j", "1"], cwd=first.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(remote_objects(str(cache))) < 5 and proc.poll() is None:
            time.sleep(0.01)
        proc.kill()
    finally:
        proc.wait()
    old = cache / "tmp" / "0123.abandoned"
    old.write_bytes(b"from a push killed two days ago")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    rest = push(first)
    assert rest["errors"] == [] and rest["entries"] + rest["already"] == 3
    assert_objects_intact(str(cache), temps_left=True)  # the killed upload's temp: never read
    assert not old.exists(), "old temp uploads are swept; recent ones may belong to a running push"
    assert len(remote_objects(str(cache))) >= 300


def test_two_pushes_at_once_to_one_remote_leave_it_intact(first, second, tmp_path):
    cache = tmp_path / "cache"
    for ws in (first, second):
        ws.pipe("remote", "add", "team", str(cache), "--default", check=True)
        outcomes(ws)
    env = dict(os.environ, PIPE_PLAIN="1")
    procs = [
        subprocess.Popen(
            PIPE + ["push"], cwd=ws.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for ws in (first, second)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert_objects_intact(str(cache))
    third = make_workspace(tmp_path / "third")
    third.pipe("remote", "add", "team", str(cache), "--default", check=True)
    assert outcomes(third) == {n: "restored" for n in ("prepare", "train", "evaluate")}


def test_two_pulls_at_once_into_one_workspace(first, second, tmp_path):
    cache = str(tmp_path / "cache")
    for ws in (first, second):
        ws.pipe("remote", "add", "team", cache, "--default", check=True)
    outcomes(first)
    push(first)
    env = dict(os.environ, PIPE_PLAIN="1")
    procs = [
        subprocess.Popen(
            PIPE + ["pull", "--json"],
            cwd=second.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    got = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        got.append(json.loads(out))
    # One pulled, the other (which waited for the workspace) found it all here.
    assert sorted((g["entries"], g["already"]) for g in got) == [(0, 3), (3, 0)], got
    assert second.pipe("verify").code == 0
    assert outcomes(second, "--no-remote") == {n: "restored" for n in ("prepare", "train", "evaluate")}


# --- SFTP against a real sshd ----------------------------------------------------------------
@pytest.fixture(scope="module")
def sftp():
    tmp = tempfile.mkdtemp(prefix="pipe-sshd-")
    proc, server = servers.start_sshd(tmp)
    try:
        yield server
    finally:
        servers.stop(proc)
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def test_sftp_remote_shares_runs_and_refuses_a_wrong_key(first, second, sftp):
    url = sftp.url("team-cache")
    for ws in (first, second):
        r = ws.pipe("remote", "add", "team", url, "--default", *sftp.options())
        assert r.code == 0, str(r)
    outcomes(first)
    pushed = push(first)
    assert pushed["entries"] == 3 and pushed["errors"] == []
    assert_objects_intact(os.path.join(sftp.base, "team-cache"))
    assert outcomes(second) == {n: "restored" for n in ("prepare", "train", "evaluate")}
    assert second.read("build/score.txt") == first.read("build/score.txt")

    second.pipe("remote", "add", "wrong", url, *sftp.options(sftp.wrong_key), check=True)
    r = second.pipe("push", "--remote", "wrong")
    assert r.code == 1 and "could not authenticate" in r.err and "hint:" in r.err, str(r)
    second.write("src/evaluate.py", EVALUATE + "# changed\n")
    r = second.pipe("run", "--json", "--remote=wrong")
    assert r.code == 0 and "could not authenticate" in r.err and "working locally" in r.err, str(r)


def test_two_pushes_at_once_over_sftp(first, second, sftp):
    url = sftp.url("concurrent")
    for ws in (first, second):
        ws.pipe("remote", "add", "team", url, "--default", *sftp.options(), check=True)
        outcomes(ws)
    env = dict(os.environ, PIPE_PLAIN="1")
    procs = [
        subprocess.Popen(
            PIPE + ["push"], cwd=ws.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for ws in (first, second)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert_objects_intact(os.path.join(sftp.base, "concurrent"))


# --- S3 against moto's server ----------------------------------------------------------------
@pytest.fixture(scope="module")
def s3():
    tmp = tempfile.mkdtemp(prefix="pipe-moto-")
    proc, server = servers.start_moto(tmp)
    try:
        yield server
    finally:
        servers.stop(proc)
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def test_s3_remote_shares_runs_and_never_prints_the_secret(first, second, s3):
    for ws in (first, second):
        ws.pipe("remote", "add", "team", "s3://pipe-cache/team", "--default", *s3.options(), check=True)
    env = s3.env()
    outcomes(first, env=env)
    pushed = push(first, env=env)
    assert pushed["entries"] == 3 and pushed["errors"] == []
    r = second.pipe("pull", "--json", env=env)
    assert r.code == 0 and r.json["entries"] == 3, str(r)
    assert outcomes(second, "--no-remote") == {n: "restored" for n in ("prepare", "train", "evaluate")}
    third = make_workspace(second.root.parent / "third")
    third.pipe("remote", "add", "team", "s3://pipe-cache/team", "--default", *s3.options(), check=True)
    assert outcomes(third, env=env) == {n: "restored" for n in ("prepare", "train", "evaluate")}

    r = second.pipe("push", env=s3.env(with_credentials=False))
    assert r.code == 1 and "could not authenticate" in r.err and "AWS_SECRET_ACCESS_KEY" in r.err, str(r)
    for res in (r, first.pipe("push", "--remote", "s3://pipe-cache/other", env=env)):
        assert s3.secret not in res.err + res.out and "Traceback" not in res.err
