"""File and folder names that are not UTF-8 (b'bad\\xffname.txt', common in data unpacked from
archives made on other systems) are refused where pipe first meets them: the path shown
escaped, what is wrong and how to rename; exit 1 when a step's output holds one (the step fails
and its outputs are not kept), exit 2 for bad input. Each was an internal error (exit 70).
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from workspace_repo import Repo

from pipefile.cache.content_store import ContentStore, StoreError
from pipefile.digest import E_FILE, TREE, TREE_MAGIC, PathDigest

BAD = os.fsdecode(b"bad\xffname.txt")  # what the file system hands Python for such a name
SHOWN = "bad\\xffname.txt"  # how pipe shows it


def _make(repo: Repo, rel: str, text: str = "x") -> None:
    p = repo.root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def _refused(r, code: int, *words: str) -> None:
    assert r.code == code, str(r)
    assert "internal error" not in r.err, str(r)
    assert "not UTF-8" in r.err and "hint:" in r.err, str(r)
    for w in words:
        assert w in r.err, str(r)


OUTPUT_STEP = """
version: 1
steps:
  s:
    command: {command}
    outputs: {{o: out/}}
"""


def test_an_output_folder_holding_such_a_name_fails_the_step_and_keeps_nothing(repo):
    cmd = "python3 -c \"open(b'out/ok.txt','wb').write(b'ok'); open(b'out/bad\\\\xffname.txt','wb').write(b'x')\""
    repo.pipefile(OUTPUT_STEP.format(command=json.dumps(cmd)))
    (repo.root / "out").mkdir()
    for _ in range(2):  # and every later run: the same step failure, never an internal error
        r = repo.pipe("run")
        _refused(r, 1, f"'out/{SHOWN}'", "output 'out'", "nothing of the output was kept", "convmv")
        assert not repo.exists("out/ok.txt")  # rolled back, as for a link leading out of it
    r = repo.pipe("status")
    assert r.code == 0 and "internal error" not in r.err, str(r)


def test_such_a_name_put_in_an_output_folder_by_hand_is_never_deleted(repo):
    """pipe saves an output's previous content before replacing it and cannot save that name."""
    repo.pipefile(OUTPUT_STEP.format(command=json.dumps("mkdir -p out && echo a > out/a.txt")))
    repo.pipe("run", check=True)
    _make(repo, "out/" + BAD, "mine")
    for args in (("status",), ("run",), ("run", "--force")):
        _refused(repo.pipe(*args), 2, f"'out/{SHOWN}'")
    assert repo.read("out/" + BAD) == "mine"


def test_an_output_folder_holding_a_link_to_such_a_name_fails_the_step(repo):
    cmd = "python3 -c \"import os; os.symlink(b'bad\\\\xfftarget', b'out/l')\""
    repo.pipefile(OUTPUT_STEP.format(command=json.dumps(cmd)))
    (repo.root / "out").mkdir()
    _refused(repo.pipe("run"), 1, "'out/l' -> 'bad\\xfftarget'", "nothing of the output was kept")


INPUT_STEP = """
version: 1
steps:
  s:
    command: ls ${{inputs.d}} > o.txt
    inputs: {d: data/}
    code: [src/]
    outputs: {o: o.txt}
"""


@pytest.mark.parametrize(
    "make, shown",
    [
        (lambda root: (root / "data" / BAD).write_text("x"), f"'data/{SHOWN}'"),
        (
            lambda root: (root / "data" / "sub" / os.fsdecode(b"d\xe9j\xe0")).mkdir(parents=True),
            "'data/sub/d\\xe9j\\xe0'",
        ),
        (lambda root: os.symlink(os.fsdecode(b"bad\xfftarget"), root / "data" / "l"), "'data/l' -> 'bad\\xfftarget'"),
        (lambda root: (root / "src" / BAD).write_text("x"), f"'src/{SHOWN}'"),
    ],
    ids=["file", "nested-folder", "dangling-link-target", "code-folder"],
)
def test_an_input_or_code_folder_holding_such_a_name_is_bad_input(repo, make, shown):
    repo.pipefile(INPUT_STEP)
    _make(repo, "data/a.txt")
    _make(repo, "src/x.py")
    repo.pipe("run", check=True)
    repo.pipe("run", check=True)  # (leaves the no-op record: the change must still be seen)
    make(repo.root)
    for cmd in ("run", "status"):
        _refused(repo.pipe(cmd), 2, shown)


def test_a_foreach_over_a_folder_holding_such_a_name_names_the_pipefile_line(repo):
    repo.pipefile("""
        version: 1
        steps:
          per:
            foreach: {over: "${{inputs.d}}", glob: "*.txt"}
            command: wc -c ${{inputs.d}} > ${{outputs.o}}
            inputs: {d: data/}
            outputs: {o: counts/}
    """)
    _make(repo, "data/a.txt")
    _make(repo, "data/" + os.fsdecode(b"skipped\xff.csv"))  # (not matched by the glob: never used)
    repo.pipe("run", check=True)
    _make(repo, "data/" + BAD)
    for cmd in ("run", "status"):
        _refused(repo.pipe(cmd), 2, "Pipefile:", f"'data/{SHOWN}'", "foreach of step 'per'")


def test_asset_add_of_such_data_is_bad_input(repo):
    repo.pipefile("version: 1\nsteps: {}\n")
    _make(repo, "ds/a.txt")
    _make(repo, "ds/" + BAD)
    _refused(repo.pipe("asset", "add", "ds", "--name", "ds"), 2, f"'{repo.root}/ds/{SHOWN}'")
    odd = os.fsdecode(b"d\xe9j\xe0")
    _make(repo, odd + "/a.txt")
    _refused(repo.pipe("asset", "add", odd, "--name", "ds"), 2, "d\\xe9j\\xe0")
    assert repo.pipe("artifacts").code == 0


def test_a_workspace_whose_path_is_not_utf8_is_bad_input(tmp_path):
    root = tmp_path / os.fsdecode(b"bad\xffdir")
    root.mkdir()
    ws = Repo(root)
    ws.pipefile("""
        version: 1
        steps:
          s: {command: "echo a > a.txt", outputs: {o: a.txt}}
    """)
    for args in (("run",), ("status",), ("validate",)):
        _refused(ws.pipe(*args), 2, "bad\\xffdir", "convmv")
    # A workspace that ran under a UTF-8 name, then moved: every command that opens it.
    good = Repo(tmp_path / "good")
    good.root.mkdir()
    good.pipefile("version: 1\nsteps:\n  s: {command: 'echo a > a.txt', outputs: {o: a.txt}}\n")
    good.pipe("run", check=True)
    good.pipe("run", check=True)  # (a no-op record too)
    moved = tmp_path / os.fsdecode(b"moved\xe9")
    os.rename(good.root, moved)
    for args in (("run",), ("status",), ("jobs",), ("jobs", "show", "1"), ("gc",), ("verify",)):
        _refused(Repo(moved).pipe(*args), 2, "moved\\xe9")


def test_clone_into_a_folder_whose_path_is_not_utf8_writes_nothing(repo, tmp_path):
    repo.pipefile("version: 1\nsteps:\n  s: {command: 'echo a > a.txt', outputs: {o: a.txt}}\n")
    repo.pipe("run", check=True)
    dest = tmp_path / os.fsdecode(b"clone\xff")
    _refused(repo.pipe("clone", "1", "-o", str(dest)), 2, "clone\\xff")
    assert not os.path.lexists(dest)


def test_command_line_words_that_are_not_utf8(repo):
    repo.pipefile("""
        version: 1
        params: {n: {type: string, default: a}}
        steps:
          s: {command: "echo ${{params.n}} > o.txt", outputs: {o: o.txt}}
    """)
    repo.pipe("run", check=True)
    odd = os.fsdecode(b"x\xffy")
    for args in (("run", "-p", f"n={odd}"), ("status", "-p", f"n={odd}")):
        _refused(repo.pipe(*args), 2, "x\\xffy")
    for args in (("jobs", "show", odd), ("metrics", "show", odd)):
        r = repo.pipe(*args)
        assert r.code == 2 and "internal error" not in r.err and "no job 'x\\xffy'" in r.err, str(r)
    for url in (f"/tmp/{odd}", f"file:///tmp/{odd}"):
        _refused(repo.pipe("remote", "add", "r", url), 2)
        assert not repo.exists(".pipe-remotes.yaml")  # (one no later command could read)
    assert repo.pipe("status").code == 0


def test_a_docker_build_context_holding_such_a_name_is_bad_input(repo):
    repo.pipefile("""
        version: 1
        environments:
          built: {type: docker, build: envs/t}
        steps:
          s: {command: "echo a > o.txt", environment: built, outputs: {o: o.txt}}
    """)
    _make(repo, "envs/t/Dockerfile", "FROM busybox\n")
    _make(repo, "envs/t/" + BAD)
    _refused(repo.pipe("status"), 2, f"'envs/t/{SHOWN}'")  # (the whole folder: its digest)
    _make(repo, "envs/t/.dockerignore", "*.log\n")
    _refused(repo.pipe("status"), 2, f"'envs/t/{SHOWN}'", "build context")  # (file by file)


def test_a_stored_folder_naming_a_file_in_text_that_is_not_utf8_is_never_restored(tmp_path):
    """Never written by pipe; a remote or a hand edit could (JSON escapes a lone surrogate)."""
    store = ContentStore(str(tmp_path / "store"))
    blob = store.put_bytes(b"x")
    data = TREE_MAGIC + ('[["bad\\udcffname.txt","%s","%s",1]]' % (E_FILE, blob)).encode()
    tree = store.put_bytes(data)
    (tmp_path / "scratch").mkdir()
    with pytest.raises(StoreError, match="unsafe entry"):
        store.materialize(PathDigest(TREE, tree, 1), str(tmp_path / "dest"), str(tmp_path / "scratch"))
    assert not os.path.lexists(tmp_path / "dest")
    shutil.rmtree(tmp_path / "store")


def test_a_path_that_is_not_utf8_is_printed_back_as_its_bytes(repo):
    """Where pipe accepts such a path (`pipe recover -o`: the user's file, never recorded), it
    prints it as the bytes it came as, even where Python would refuse to (a strict stdout, as
    under en_US.UTF-8): it was exit 70 on the way out, after the work was done."""
    import re
    import subprocess
    import sys

    repo.pipefile(OUTPUT_STEP.format(command=json.dumps("mkdir -p out && echo a > out/a.txt")))
    repo.pipe("run", check=True)
    _make(repo, "out/a.txt", "mine")
    saved = re.search(r"pipe recover (\w+) -o PATH", repo.pipe("run", check=True).err)
    assert saved, "no saved content"
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict", PIPE_PLAIN="1")
    dest = os.fsdecode(b"rec\xffx")
    p = subprocess.run(
        [sys.executable, "-m", "pipefile", "recover", saved.group(1), "-o", dest],
        cwd=repo.root,
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert b"rec\xffx" in p.stdout
    assert (repo.root / dest / "a.txt").read_text() == "mine"


def test_a_served_upload_holding_such_a_name_is_refused(repo):
    """A folder sent to `pipe serve` as a tar whose member names are not UTF-8 (a tar made on
    another system): refused as the upload's fault, never a server error."""
    import io
    import tarfile

    from serve_site import Server, make_endpoints, require_serve_deps, token, upload

    require_serve_deps()
    make_endpoints(repo)
    tok = token(repo, "--scope", "admin")
    server = Server(repo.root)
    try:
        c = server.client(tok)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", encoding="utf-8", errors="surrogateescape") as tf:
            info = tarfile.TarInfo(BAD)
            info.size = 1
            tf.addfile(info, io.BytesIO(b"x"))
        r = upload(c, buf.getvalue(), "application/x-tar")
        assert 400 <= r.status_code < 500, r.text
        assert "not valid UTF-8" in r.json()["error"]["message"], r.text
        assert c.get("/v1/health").status_code == 200
        # pipe invoke refuses such a folder before sending it, and such a param value.
        _make(repo, "imgs/a.txt")
        _make(repo, "imgs/" + BAD)
        env = {"PIPE_TOKEN": tok}
        r = repo.pipe("invoke", "count", "-i", "images=imgs", "--url", server.url, env=env)
        _refused(r, 2, SHOWN)
        odd = os.fsdecode(b"x\xffy")
        r = repo.pipe("invoke", "score", "-i", "data=imgs/a.txt", "-p", f"label={odd}", "--url", server.url, env=env)
        _refused(r, 2, "x\\xffy")
    finally:
        server.stop()
