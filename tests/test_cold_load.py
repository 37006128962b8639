"""The cold load of a large Pipefile (issue 12): what a load asks of the disk and of the YAML.

A full run deletes `.pipe/`, so its load parses the Pipefile and builds the graph from nothing.
Loading must give what it gave before; these tests pin the parts that were made cheaper.
"""

from __future__ import annotations

import os

import pytest

from pipefile import graph as graph_mod
from pipefile import load as loader
from pipefile.landing import FolderEntries
from pipefile.load import yamlsafe


def _tree(root) -> list:
    """A folder of files, links and folders, and the workspace paths to ask about."""
    d = root / "d"
    d.mkdir()
    for i in range(40):
        (d / f"f{i}.txt").write_text("x")
    (d / "sub").mkdir()
    os.symlink("f1.txt", d / "to_file")
    os.symlink("nowhere", d / "dangling")
    os.symlink("sub", d / "to_dir")
    os.symlink("f2.txt", d / "Linked")
    (root / "plain").write_text("a file, not a folder")
    asked = [f"d/{n}" for n in os.listdir(d)]
    asked += [f"d/missing{i}" for i in range(30)] + ["d/F1.TXT", "d/linked", "d/LINKED", "d/é", "d/"]
    asked += [f"gone/x{i}" for i in range(20)] + [f"plain/x{i}" for i in range(20)] + ["top", "plain"]
    asked += [f"d/to_dir/y{i}" for i in range(20)]
    return asked


@pytest.mark.parametrize("order", ["as listed", "reversed", "missing first"])
def test_folder_entries_answer_what_lstat_answers(tmp_path, order):
    asked = _tree(tmp_path)
    if order == "reversed":
        asked.reverse()
    elif order == "missing first":
        asked.sort(key=lambda p: not ("missing" in p or "gone" in p))
    entries = FolderEntries(str(tmp_path), asked)
    for rel in asked * 2:
        path = os.path.join(str(tmp_path), rel)
        assert entries.lexists(rel) == os.path.lexists(path), rel
        assert entries.islink(rel) == os.path.islink(path), rel
    assert entries.listed["d"] is not None and entries.listed["gone"] == entries.listed["plain"] == ({}, set())
    assert entries.listed["d"][1] == {"to_file", "dangling", "to_dir", "linked"}


def test_a_folder_much_larger_than_what_is_asked_of_it_is_not_read_through(tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    for i in range(300):
        (big / f"{i}").write_text("")
    entries = FolderEntries(str(tmp_path), [f"big/{i}" for i in range(17)])
    for i in range(17):
        assert entries.lexists(f"big/{i}") and not entries.islink(f"big/{i}")
    assert entries.listed["big"] is None  # (more than 16 entries a path: each path is asked itself)
    assert not entries.lexists("big/nothing") and entries.lexists("big/299")


def _chain(root, n: int) -> str:
    steps = []
    for i in range(n):
        source = f"leaves/l{i}.txt"
        (root / "leaves").mkdir(exist_ok=True)
        (root / source).write_text(str(i))
        inputs = f'      i0: "{source}"\n' + (f'      i1: "build/s{i - 1}.txt"\n' if i else "")
        steps.append(
            f'  s{i}:\n    command: "cat ${{{{inputs.i0}}}} > ${{{{outputs.out}}}}"\n'
            f'    inputs:\n{inputs}    outputs: {{out: "build/s{i}.txt"}}\n'
        )
    (root / "Pipefile").write_text("version: 1\nname: chain\nsteps:\n" + "".join(steps))
    return str(root / "Pipefile")


def test_building_the_graph_of_many_sources_and_outputs_lists_their_folders(tmp_path, monkeypatch):
    # Before: one lstat per source (does it exist?) and one per output (is a link there?);
    # a failing lstat, for an output not made yet, raised and caught an exception each time.
    pf = loader.load(_chain(tmp_path, 300))
    calls: list = []
    real_lstat = os.lstat

    def lstat(path, *a, **kw):
        calls.append(path)
        return real_lstat(path, *a, **kw)

    monkeypatch.setattr(os, "lstat", lstat)
    graph = graph_mod.build(pf, {})
    assert len(graph.nodes) == 300 and len(calls) < 100, len(calls)
    assert graph_mod.source_errors(graph) == [] and len(calls) < 200


def test_a_missing_source_among_many_is_still_reported(tmp_path):
    path = _chain(tmp_path, 40)
    os.unlink(tmp_path / "leaves" / "l33.txt")
    with pytest.raises(Exception) as e:
        graph_mod.build(loader.load(path), {})
    assert "reads 'leaves/l33.txt', which no step produces and which does not exist" in str(e.value)


def test_a_scalar_that_repeats_is_read_as_it_is_read_alone():
    # A plain scalar's tag is resolved once per text in a file: every repeat of a text, plain or
    # quoted, must still come out as that text alone does (YAML 1.2 numbers, strings, nulls).
    items = ["1", "'1'", "1.5", "'1.5'", "yes", "010", "1:30", "null", "~", "''", "x", '"x"', "1e3", "0x1f"]
    text = "a: [" + ", ".join(items * 3) + "]\n"
    got = [(n.tag, n.value, n.style) for n in yamlsafe.compose(text, "t", numbers=True).value[0][1].value]
    for i, item in enumerate(items * 3):
        alone = yamlsafe.compose(f"a: {item}\n", "t", numbers=True).value[0][1]
        assert got[i] == (alone.tag, alone.value, alone.style), item
    assert got[0][0].endswith(":int") and got[1][0].endswith(":str") and got[5][1] == "10"
