"""A push to a folder or SFTP remote survives a crash of the machine holding the remote: each
object's bytes are on its disk (fsync) before the rename that names it, and the folders those
renames changed are synced before the run-cache entry that names the objects goes up. A power
cut cannot be made here, so the order of the system calls is what is checked (strace, skipped
where it is not installed or may not trace). Also: an object cut short on the remote is refused
by a pull and replaced by a push; a push checks a folder remote's objects a folder at a time;
`pipe remote add` refuses a path that is a file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import pytest
import servers
from workspace_repo import PIPE, Repo

PIPEFILE = """
version: 1
steps:
  make:
    command: python gen.py build/many
    outputs: {many: build/many/}
    code: [gen.py]
"""
GEN = (
    "import os, sys\nd = sys.argv[1]\nos.makedirs(d, exist_ok=True)\n"
    "for i in range(40):\n    open(f'{d}/f{i:03d}.txt', 'w').write(f'object {i}\\n' * (i + 1))\n"
)
STRACE = shutil.which("strace")


@pytest.fixture
def built(tmp_path) -> Repo:
    repo = Repo(tmp_path / "ws")
    repo.pipefile(PIPEFILE)
    repo.write("gen.py", GEN)
    repo.pipe("run", check=True)
    return repo


def _traced(log: str, cmd: list, trace: str = "fsync,fdatasync,rename,renameat,renameat2", **kw) -> subprocess.Popen:
    """`cmd` under strace -f, its fsyncs and renames written to `log` with the paths of the fds."""
    if STRACE is None:
        pytest.skip("strace is not installed")
    probe = subprocess.run([STRACE, "-f", "-o", os.devnull, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"strace may not trace here: {probe.stderr.decode(errors='replace').strip()}")
    return subprocess.Popen([STRACE, "-f", "-y", "-qq", "-e", f"trace={trace}", "-o", log, *cmd], **kw)


def _calls(log: str) -> list:
    """(call, args) in the order they returned; strace splits a call another thread
    interrupted into 'unfinished' and 'resumed': its 'resumed' half is where it returned."""
    out = []
    pending: dict = {}
    with open(log, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    for line in lines:
        m = re.match(r"(\d+)\s+(.*)", line.strip())
        if not m:
            continue
        pid, rest = m.groups()
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")]
            continue
        r = re.match(r"<\.\.\. (\w+) resumed>(.*)", rest)
        if r:
            rest = pending.pop(pid, r.group(1) + "(") + r.group(2)
        c = re.match(r"(\w+)\((.*)\)\s*=\s*(-?\d+)", rest)
        if c and c.group(3) == "0":
            out.append((c.group(1), c.group(2)))
    return out


def _quoted(args: str) -> list:
    return re.findall(r'"((?:[^"\\]|\\.)*)"', args)


def _check_order(calls: list, remote: str, objects: int) -> None:
    """Every object renamed into objects/ had its temp file fsynced before; every folder of
    those renames was fsynced after the last rename into it and before the entry's rename."""
    synced: list = []  # (index, path) of each fsync
    renames: list = []  # (index, source, target)
    for i, (name, args) in enumerate(calls):
        if name in ("fsync", "fdatasync"):
            m = re.search(r"<([^>]*)>", args)
            if m:
                synced.append((i, m.group(1)))
        elif name.startswith("rename"):
            paths = _quoted(args)
            renames.append((i, paths[0], paths[-1]))
    into = [(i, src, dst) for i, src, dst in renames if dst.startswith(os.path.join(remote, "objects") + "/")]
    assert len(into) == objects, (len(into), renames[:5])
    for i, src, dst in into:
        assert any(j < i and p == src for j, p in synced), f"{dst} was renamed into place before its bytes were synced"
    entry = [i for i, _src, dst in renames if dst.startswith(os.path.join(remote, "actions") + "/")]
    assert entry, renames
    for folder in {os.path.dirname(dst) for _i, _src, dst in into} | {os.path.join(remote, "objects")}:
        last = max(i for i, _src, dst in into if dst.startswith(folder + "/"))
        assert any(last < j < entry[0] and p == folder for j, p in synced), (
            f"folder {folder} was not synced between its last rename and the entry's"
        )


def test_a_push_to_a_folder_syncs_each_object_before_its_rename_and_the_folders_before_the_entry(built, tmp_path):
    remote = str(tmp_path / "remote")
    log = str(tmp_path / "strace.log")
    proc = _traced(log, [*PIPE, "push", "--remote", remote], cwd=built.root)
    assert proc.wait(120) == 0
    objects = sum(len(files) for _d, _s, files in os.walk(os.path.join(remote, "objects")))
    assert objects == 41  # (40 files and the folder's manifest)
    _check_order(_calls(log), remote, objects)


def test_a_push_over_sftp_syncs_each_object_before_its_rename(built, tmp_path):
    """OpenSSH's sftp-server fsyncs a file when asked through fsync@openssh.com: the server is
    traced, so the fsync seen is the one that reaches its disk."""
    tmp = tempfile.mkdtemp(prefix="pipe-sshd-")
    try:
        proc, server = servers.start_sshd(tmp)
        servers.stop(proc)  # (started once for its keys and config; traced below)
        log = str(tmp_path / "strace.log")
        sshd = _traced(log, [os.path.abspath(servers.SSHD), "-D", "-e", "-f", os.path.join(tmp, "sshd_config")])
        try:
            servers.wait_for_port(server.port, sshd, "sshd")
            url = server.url("cache")
            built.pipe("remote", "add", "team", url, *server.options(), check=True)
            r = built.pipe("push", "--remote", "team")
            assert r.code == 0, str(r)
        finally:
            servers.stop(sshd)
        remote = os.path.join(server.base, "cache")
        calls = _calls(log)
        into = [(i, _quoted(a)) for i, (n, a) in enumerate(calls) if n.startswith("rename")]
        into = [(i, p[0]) for i, p in into if p[-1].startswith(os.path.join(remote, "objects") + "/")]
        assert len(into) == 41, calls[:10]
        synced = [(i, m.group(1)) for i, (n, a) in enumerate(calls) if n == "fsync" and (m := re.search(r"<(.*)>", a))]
        for i, src in into:
            assert any(j < i and p == src for j, p in synced), f"{src} was renamed before the server synced it"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_an_object_cut_short_on_a_folder_remote_is_refused_by_a_pull_and_replaced_by_a_push(built, tmp_path):
    remote = str(tmp_path / "remote")
    built.pipe("push", "--remote", remote, check=True)
    objects = [os.path.join(d, f) for d, _s, files in os.walk(os.path.join(remote, "objects")) for f in files]
    cut = max(objects, key=os.path.getsize)  # what a crash before the data reached the disk leaves
    size = os.path.getsize(cut)
    with open(cut, "r+b") as f:
        f.truncate(size // 2)

    other = Repo(tmp_path / "other")
    other.pipefile(PIPEFILE)
    other.write("gen.py", GEN)
    r = other.pipe("pull", "--remote", remote)
    name = os.path.basename(os.path.dirname(cut)) + os.path.basename(cut)
    assert r.code == 1, str(r)
    assert f"object {name[:12]} does not match its name" in r.err and "refused" in r.err, str(r)
    assert "pipe push --repair" in r.err, str(r)
    assert not os.path.exists(os.path.join(other.root, ".pipe", "store", "objects", name[:2], name[2:]))
    assert other.outcomes("--remote", remote) == {"make": "ran"}  # (never restored from a short copy)

    r = built.pipe("push", "--repair", "--remote", remote)
    assert r.code == 0 and os.path.getsize(cut) == size, str(r)


def test_a_push_checks_a_folder_remote_a_folder_at_a_time(built, tmp_path):
    """What is there is listed once per objects/ab/ folder, not looked for with a stat per
    object (a round trip each, on NFS): an object that is not there costs no call of its own.
    A folder the push needs fewer than LIST_FROM objects of is not listed (a remote of millions
    holds thousands of names in each): those few are stat'ed."""
    from pipefile.remote.folder import LIST_FROM

    if STRACE is None:
        pytest.skip("strace is not installed")
    built.write("gen.py", GEN.replace("range(40)", "range(3000)").replace("* (i + 1)", "* 2"))
    built.pipe("run", check=True)
    remote = str(tmp_path / "remote")
    built.pipe("push", "--remote", remote, check=True)
    sub = os.path.join(remote, "objects")
    for d, _s, files in os.walk(sub):  # (the objects gone, their folders kept; the entry too)
        for f in files:
            os.remove(os.path.join(d, f))
    shutil.rmtree(os.path.join(remote, "actions"))
    log = str(tmp_path / "strace.log")
    r = subprocess.run(
        [STRACE, "-f", "-qq", "-e", "trace=/stat", "-o", log, *PIPE, "push", "--remote", remote],
        cwd=built.root,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0 and "ptrace" in r.stderr:
        pytest.skip("strace may not trace here")
    assert r.returncode == 0, r.stderr
    with open(log) as f:
        lines = f.read().splitlines()
    stated = [m.group(1) for line in lines if (m := re.search(re.escape(sub) + r"/([0-9a-f]{2})/[0-9a-f]{30}\b", line))]
    per_folder: dict = {}
    for d, _s, files in os.walk(sub):
        if files:
            per_folder[os.path.basename(d)] = len(files)
    listed = {k for k, n in per_folder.items() if n >= LIST_FROM}
    assert len(listed) > 100 and sum(per_folder.values()) == 3001, per_folder
    one_by_one = [k for k in stated if k in listed]
    assert not one_by_one, f"{len(one_by_one)} objects of listed folders looked for one by one: {one_by_one[:3]}"
    assert set(stated) == set(per_folder) - listed  # (the others: a stat each)


def test_remote_add_refuses_a_path_that_is_a_file_and_keeps_a_folder_not_made_yet(tmp_path):
    repo = Repo(tmp_path / "ws")
    repo.pipefile(PIPEFILE)
    repo.write("notes.txt", "a file, not a folder\n")
    file = os.path.join(repo.root, "notes.txt")
    for url, names in (
        ("notes.txt", f"{file} is a file:"),
        ("notes.txt/cache", f"{file} is a file, so {file}/cache cannot be a folder"),
        (f"file://{file}", f"{file} is a file:"),
    ):
        r = repo.pipe("remote", "add", "team", url)
        assert r.code == 2, str(r)
        assert f"remote 'team': {names}" in r.err and "hint: give a folder's path" in r.err, str(r)
        assert "Traceback" not in r.err and not repo.exists(".pipe-remotes.yaml"), str(r)
    # A folder that does not exist yet is taken as before (not made: the first push makes it).
    r = repo.pipe("remote", "add", "team", "later/cache")
    assert r.code == 0 and not repo.exists("later"), str(r)
    r = repo.pipe("remote", "add", "here", ".")
    assert r.code == 0, str(r)
    os.symlink(str(tmp_path / "usb-not-mounted" / "cache"), os.path.join(repo.root, "usb"))
    r = repo.pipe("remote", "add", "usb", "usb")  # (a link to a disk not mounted yet: taken, as before)
    assert r.code == 0, str(r)


def test_a_folder_where_a_remote_object_goes_is_named_with_its_fix(built, tmp_path):
    remote = str(tmp_path / "remote")
    built.pipe("push", "--remote", remote, check=True)
    obj = max(
        (os.path.join(d, f) for d, _s, files in os.walk(os.path.join(remote, "objects")) for f in files),
        key=os.path.getsize,
    )
    os.remove(obj)
    os.makedirs(obj)  # (another tool's doing: pipe never makes a folder there)
    shutil.rmtree(os.path.join(remote, "actions"))
    r = built.pipe("push", "--remote", remote)
    assert r.code == 1, str(r)
    assert f"{obj} is a folder, where pipe keeps a file" in r.err and f"hint: remove that folder (rm -r {obj})" in r.err
    os.rmdir(obj)
    r = built.pipe("push", "--remote", remote)
    assert r.code == 0 and os.path.isfile(obj), str(r)


NAMED = """
version: 1
steps:
  train:
    command: python -c "open('build/model.txt', 'w').write('weights\\\\n' * 20)"
    outputs:
      model: {path: build/model.txt, name: model}
"""


def test_a_version_number_claimed_on_a_folder_remote_is_synced_before_it_is_linked_to_its_name(tmp_path):
    """versions/NAME/N.json is claimed once (a hard link that fails if it exists): a claim whose
    bytes were not on the disk could stand, after a crash, empty and claimed for ever."""
    repo = Repo(tmp_path / "ws")
    repo.pipefile(NAMED)
    repo.pipe("run", check=True)
    remote = str(tmp_path / "remote")
    log = str(tmp_path / "strace.log")
    proc = _traced(log, [*PIPE, "push", "--remote", remote], cwd=repo.root, trace="fsync,link,linkat")
    assert proc.wait(120) == 0
    record = os.path.join(remote, "versions", "model", "1.json")
    assert os.path.isfile(record)
    calls = _calls(log)
    linked = [(i, _quoted(a)) for i, (n, a) in enumerate(calls) if n in ("link", "linkat")]
    linked = [(i, p[0]) for i, p in linked if p[-1] == record]
    assert len(linked) == 1, calls
    i, tmp = linked[0]
    synced = [(j, m.group(1)) for j, (n, a) in enumerate(calls) if n == "fsync" and (m := re.search(r"<(.*)>", a))]
    assert any(j < i and p == tmp for j, p in synced), f"{record} was linked before its bytes were synced"
    folder = os.path.dirname(record)
    assert any(j > i and p == folder for j, p in synced), f"{folder} was not synced after the claim"


MANY_NAMED = "version: 1\nsteps:\n" + "".join(
    f"""  s{i}:
    command: python -c "open('build/m{i}.txt', 'w').write('{i}\\\\n')"
    outputs:
      m: {{path: build/m{i}.txt, name: m{i}}}
"""
    for i in range(6)
)


def test_a_push_looks_for_its_artifact_versions_in_parallel(tmp_path):
    """Each version is looked for on the remote (a HEAD each on S3): on the transfer threads,
    as objects and entries are, not one after another on the main thread."""
    if STRACE is None:
        pytest.skip("strace is not installed")
    repo = Repo(tmp_path / "ws")
    repo.pipefile(MANY_NAMED)
    repo.pipe("run", check=True)
    remote = str(tmp_path / "remote")
    log = str(tmp_path / "strace.log")
    r = subprocess.run(
        [STRACE, "-f", "-qq", "-e", "trace=/stat", "-o", log, *PIPE, "push", "--remote", remote],
        cwd=repo.root,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0 and "ptrace" in r.stderr:
        pytest.skip("strace may not trace here")
    assert r.returncode == 0, r.stderr
    with open(log) as f:
        lines = f.read().splitlines()
    main = lines[0].split()[0]
    looked = [line.split()[0] for line in lines if os.path.join(remote, "artifacts") + "/m" in line]
    assert len(looked) >= 6, lines[:5]
    assert main not in looked, f"artifact versions looked for on the main thread ({looked})"
    assert len(os.listdir(os.path.join(remote, "artifacts"))) == 6


def test_push_repair_replaces_an_object_damaged_in_place_on_a_folder_remote(built, tmp_path):
    """A restore refusing an object names `pipe push --repair` as the fix: on a folder remote
    that fix must also find a copy whose bytes rotted with its size kept (zeros after a crash,
    a bit flipped), not only one cut short."""
    remote = str(tmp_path / "remote")
    built.pipe("push", "--remote", remote, check=True)
    obj = max(
        (os.path.join(d, f) for d, _s, files in os.walk(os.path.join(remote, "objects")) for f in files),
        key=os.path.getsize,
    )
    with open(obj, "rb") as f:
        good = f.read()
    with open(obj, "wb") as f:
        f.write(b"\0" * len(good))
    r = built.pipe("push", "--repair", "--remote", remote)
    assert r.code == 0, str(r)
    with open(obj, "rb") as f:
        assert f.read() == good, "push --repair left the damaged copy"
