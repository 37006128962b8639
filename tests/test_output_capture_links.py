"""Capturing outputs never follows a link out of them (attack review of issue 13, finding 2).

A step's command (or an archive it unpacks: a served `untar` deployment) decides what links its
output folder holds. A link that leaves the folder must not be read into the store, where it
would be pushed, served and restored as if it were the step's data: the step fails, naming the
link, and nothing of that output is kept. Links that stay inside the folder work as before.
"""

from __future__ import annotations

import os
import re
import tarfile

import pytest

from pipefile.cache.content_store import ContentStore, StoreError
from pipefile.digest import E_LINK, TREE, TREE_MAGIC, PathDigest, canonical_json, hash_bytes

SECRET = "server secret 7f3a\n"

FOLDER = """
version: 1
steps:
  s:
    command: {command}
    outputs: {{d: {{type: uri_folder, path: out}}}}
"""


@pytest.fixture
def secret(tmp_path):
    p = tmp_path / "secret.txt"
    p.write_text(SECRET)
    return p


def _store_holds(repo, text: str) -> bool:
    for dirpath, _dirs, files in os.walk(repo.root / ".pipe"):
        for f in files:
            p = os.path.join(dirpath, f)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as fh:
                    if text.encode() in fh.read():
                        return True
    return False


def _fails(repo, *words):
    r = repo.pipe("run")
    assert r.code == 1, str(r)
    for w in words:
        assert w in r.err, str(r)
    return r


def _run(repo, command: str):
    repo.pipefile(FOLDER.format(command=f'"{command}"'))
    return repo.pipe("run")


def test_a_link_out_of_an_output_folder_fails_the_step_and_stores_nothing(repo, secret):
    repo.pipefile(
        FOLDER.format(command=f'"echo ok > ${{{{outputs.d}}}}/a.txt && ln -s {secret} ${{{{outputs.d}}}}/host"')
    )
    r = _fails(repo, "out/host", repr(str(secret)), "leads out of the output folder", "hint:")
    assert "nothing of the output was kept" in r.err
    assert not _store_holds(repo, SECRET.strip())
    assert not repo.exists("out/host") and not repo.exists("out/a.txt")  # rolled back
    st = repo.pipe("status", "--json")
    assert [s["state"] for s in st.json["steps"]] != ["fresh"]


def test_a_link_into_dot_pipe_by_its_absolute_path_is_refused(repo):
    """As in the review: a link to the workspace's own jobs.db (`/proc/self/cwd/.pipe/jobs.db`)."""
    repo.write("seed.txt", "x")
    repo.pipefile(
        FOLDER.format(
            command='"ln -s \\"$PWD/.pipe/jobs.db\\" ${{outputs.d}}/jdb && '
            'ln -s /proc/self/cwd/.pipe/state.db ${{outputs.d}}/sdb"'
        )
    )
    _fails(repo, "leads out of the output folder")
    assert not repo.exists("out/jdb")


def test_a_tar_unpacked_into_an_output_cannot_smuggle_links(repo, secret):
    arch = repo.root / "in.tar"
    with tarfile.open(arch, "w") as tf:
        info = tarfile.TarInfo("host")
        info.type, info.linkname = tarfile.SYMTYPE, str(secret)
        tf.addfile(info)
        info = tarfile.TarInfo("sub/up")
        info.type, info.linkname = tarfile.SYMTYPE, "../../../secret.txt"
        tf.addfile(info)
    repo.pipefile("""
        version: 1
        steps:
          untar:
            command: tar xf ${{inputs.a}} -C ${{outputs.o}}
            inputs: {a: in.tar}
            outputs: {o: {type: uri_folder, path: out}}
    """)
    _fails(repo, "leads out of the output folder")
    assert not _store_holds(repo, SECRET.strip())


def test_a_dangling_link_out_is_refused_like_one_that_resolves(repo, secret):
    """Whether what lies outside exists must not show: one message either way (no oracle)."""
    repo.pipefile(FOLDER.format(command=f'"ln -s {secret} ${{{{outputs.d}}}}/l"'))
    there = _fails(repo).err.replace(str(secret), "T")
    missing = str(secret) + ".nope"
    repo.pipefile(FOLDER.format(command=f'"ln -s {missing} ${{{{outputs.d}}}}/l"'))
    gone = _fails(repo).err.replace(missing, "T")
    assert "leads out of the output folder" in there

    def said(err: str) -> list:  # (the lines about the link, without the step's time: 0.0s or 0.1s)
        return [re.sub(r"failed after [0-9.]+s", "failed after Ns", ln) for ln in err.splitlines() if "link" in ln]

    assert said(there) == said(gone)
    repo.pipefile(FOLDER.format(command='"ln -s ../../x ${{outputs.d}}/l"'))
    _fails(repo, "leads out of the output folder")


def test_an_output_that_is_itself_a_link_is_refused(repo, secret):
    repo.pipefile(f"""
        version: 1
        steps:
          f:
            command: ln -s {secret} ${{{{outputs.o}}}}
            outputs: {{o: out.txt}}
    """)
    _fails(repo, "output 'out.txt' is itself a symbolic link")
    assert not _store_holds(repo, SECRET.strip())
    repo.pipefile(f"""
        version: 1
        steps:
          d:
            command: rmdir ${{{{outputs.o}}}} && ln -s {secret.parent} ${{{{outputs.o}}}}
            outputs: {{o: {{type: uri_folder, path: out}}}}
    """)
    _fails(repo, "output 'out' is itself a symbolic link")
    assert not _store_holds(repo, SECRET.strip())


def test_links_that_stay_inside_the_folder_still_work(repo):
    command = (
        "mkdir ${{outputs.d}}/sub && echo A > ${{outputs.d}}/sub/a.txt && "
        "ln -s sub/a.txt ${{outputs.d}}/b.txt && ln -s sub ${{outputs.d}}/same && "
        "ln -s ./sub/../sub/a.txt ${{outputs.d}}/c.txt && ln -s ../a.txt ${{outputs.d}}/sub/d.txt && "
        "ln -s missing ${{outputs.d}}/dangling"
    )
    repo.pipefile(FOLDER.format(command=f'"{command}"'))
    assert repo.outcomes() == {"s": "ran"}
    import shutil

    shutil.rmtree(repo.root / "out")
    assert repo.outcomes() == {"s": "restored"}
    # Followed links are stored as what they point to; a dangling one stays a link.
    assert repo.read("out/b.txt") == "A\n" and repo.read("out/same/a.txt") == "A\n"
    assert repo.read("out/c.txt") == "A\n"
    assert os.readlink(repo.root / "out/dangling") == "missing"
    assert repo.states() == {"s": "fresh"}


def test_a_stored_link_out_of_its_folder_is_never_restored(tmp_path):
    """A folder in the store holding such a link (an older pipe made it, or a hand edit) is
    refused when written out, so nothing reads through it later."""
    store = ContentStore(str(tmp_path / "store"))
    for target, ok in ((b"/etc/hostname", False), (b"../x", False), (b"sub/../../x", False), (b"x", True)):
        link = store.put_bytes(target)
        data = TREE_MAGIC + canonical_json([["l", E_LINK, link, 0]])
        tree = store.put_bytes(data)
        assert tree == hash_bytes(data)
        dest = tmp_path / f"dest-{ok}-{len(target)}"
        scratch = tmp_path / "scratch"
        scratch.mkdir(exist_ok=True)
        if ok:
            store.materialize(PathDigest(TREE, tree, 0), str(dest), str(scratch))
            assert os.readlink(dest / "l") == "x"
        else:
            with pytest.raises(StoreError, match="leads out of the folder"):
                store.materialize(PathDigest(TREE, tree, 0), str(dest), str(scratch))
            assert not os.path.lexists(dest)
