"""`pipe ui` at scale (issue 16, "Scale"): what keeps a 10,000-step Pipefile quick to open
and to edit, checked for what it must not change.

- the template caches hold the commands of a 10,000-step file (each parsed once, not three times);
- the editor reads a text once (`pipefile.edit.parsed`): the base of several edits, the text a
  preview read back and its save, a text prepared while the page draws; `render.same` says
  what `canon` equality says;
- the graph a preview built for its text is the one the page's reload after the save draws;
- a preview composes its edited text once: the loader reads the tree of the editor's read-back
  (never where it could read otherwise), with the same errors and spec;
- `GET /api/pipeline?focus=STEP&depth=N`: a neighbourhood of the graph and an outline of all.

Timings are benchmarks/ui_server.py's (docs/benchmarks.md), not asserted here."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ui_server import start  # noqa: F401 (the fixture: real `pipe ui` processes)

from pipefile import template
from pipefile.edit import apply_edits, parsed, prepare, render
from pipefile.load import yamlsafe
from pipefile.ui import drafts, neighbourhood, pipeline_view

CHAIN = """\
version: 1
params:
  lr: 0.01
steps:
  a: {command: "echo a > ${{outputs.o}}", outputs: {o: build/a.txt}}
  b:
    command: "cat ${{inputs.i}} > ${{outputs.o}}"
    inputs: {i: "${{steps.a.outputs.o}}"}
    outputs: {o: build/b.txt}
  c:
    command: "cat ${{inputs.i}} > ${{outputs.o}}"
    inputs: {i: "${{steps.b.outputs.o}}"}
    outputs: {o: build/c.txt}
  d:
    command: "cat ${{inputs.i}} > ${{outputs.o}}"
    inputs: {i: "${{steps.c.outputs.o}}"}
    outputs: {o: build/d.txt}
  e:
    command: "cat ${{inputs.i}} > ${{outputs.o}}"
    inputs: {i: "${{steps.d.outputs.o}}"}
    outputs: {o: build/e.txt}
  side: {command: "echo s > ${{outputs.o}}", outputs: {o: build/side.txt}}
"""

MATRIX = """\
version: 1
steps:
  prep: {command: "echo p > ${{outputs.o}}", outputs: {o: build/p.txt}}
  fit:
    command: "cat ${{inputs.i}} > ${{outputs.o}}  # ${{inputs.k}}"
    matrix: {k: [1, 2, 3]}
    inputs: {i: "${{steps.prep.outputs.o}}", k: {type: number}}
    outputs: {o: build/fit}
  report:
    command: "ls ${{inputs.i}} > ${{outputs.o}}"
    inputs: {i: "${{steps.fit.outputs.o}}"}
    outputs: {o: build/report.txt}
  last:
    command: "cat ${{inputs.i}} > ${{outputs.o}}"
    inputs: {i: "${{steps.report.outputs.o}}"}
    outputs: {o: build/last.txt}
"""


@pytest.fixture(autouse=True)
def _fresh_editor_memory():
    parsed.clear()
    yield
    parsed.clear()


@pytest.fixture
def loads(monkeypatch):
    """The texts the loader's YAML reader reads (the real reader, counted)."""
    seen: list = []
    real, real_tree = yamlsafe.load, yamlsafe.load_tree

    def counted(text, *args, **kw):
        seen.append(text)
        return real(text, *args, **kw)

    def counted_tree(text, *args, **kw):  # (a read-back: the value and the node tree)
        seen.append(text)
        return real_tree(text, *args, **kw)

    monkeypatch.setattr(yamlsafe, "load", counted)
    monkeypatch.setattr(yamlsafe, "load_tree", counted_tree)
    return seen


# --- the template caches ---------------------------------------------------------------------
def test_the_commands_of_a_10000_step_file_are_each_parsed_once():
    texts = [f"tail -c 64 ${{{{inputs.i0}}}} > ${{{{outputs.out}}}} && echo s{i}" for i in range(10_001)]
    template.parse_cached.cache_clear()
    template.quote_contexts.cache_clear()
    for _ in range(2):  # the loader parses each command, the graph's build parses it again
        for t in texts:
            template.quote_contexts(template.parse_cached(t))
    assert template.parse_cached.cache_info().hits == len(texts)
    assert template.quote_contexts.cache_info().hits == len(texts)


# --- the editor reads a text once --------------------------------------------------------------
def test_edits_of_one_base_read_it_once_and_a_saved_preview_is_not_read_again(loads):
    first = apply_edits(CHAIN, [{"op": "set_param", "name": "lr", "value": 0.5}])
    assert loads == [CHAIN, first.text]  # the base, then the read-back of the change
    second = apply_edits(CHAIN, [{"op": "set_param", "name": "lr", "value": 0.25}])
    assert loads[2:] == [second.text]  # the base is known: only the new text is read
    again = apply_edits(CHAIN, [{"op": "set_param", "name": "lr", "value": 0.25}])
    assert len(loads) == 3 and again.text == second.text  # the save of that preview: nothing read
    assert second.text.count("\n") == CHAIN.count("\n") and "  lr: 0.25\n" in second.text


def test_a_kept_reading_gives_what_a_fresh_one_gives():
    ops = [
        [{"op": "set_param", "name": "lr", "value": 0.5}],
        [{"op": "rename_step", "name": "c", "to": "c2"}],
        [{"op": "set", "step": "b", "field": "outputs.o.path", "value": "build/bb.txt"}],
        [{"op": "set_param", "name": "lr", "value": 0.01}],  # a no-op: byte-identical
    ]
    kept = [apply_edits(CHAIN, o) for o in ops] + [apply_edits(CHAIN, o) for o in ops]
    fresh = []
    for o in ops:
        parsed.clear()
        fresh.append(apply_edits(CHAIN, o))
    assert [e.text for e in kept] == [e.text for e in fresh] * 2
    assert kept[3].text == CHAIN and not kept[3].changed
    # the data kept for a text is never changed by the edits made from it
    data = parsed.data(CHAIN.replace("\r\n", "\n"), lambda t: yamlsafe.load(t, "P", numbers=True))
    assert data == yamlsafe.load(CHAIN, "P", numbers=True)


def test_a_prepared_text_is_not_read_again_by_its_first_edit(loads):
    crlf = CHAIN.replace("\n", "\r\n")
    prepare(crlf)
    assert loads == [CHAIN]  # read as the edit reads it: \n line ends
    edited = apply_edits(crlf, [{"op": "set_param", "name": "lr", "value": 0.5}])
    assert len(loads) == 2 and "  lr: 0.5\r\n" in edited.text  # only the read-back
    prepare("steps: [unclosed\n")  # a text that does not parse: left to the edit to report


def test_two_threads_reading_one_text_read_it_once(monkeypatch):
    calls: list = []
    gate = threading.Event()
    real = parsed._read_tree

    def slow(text):
        calls.append(text)
        gate.wait(5)
        return real(text)

    monkeypatch.setattr(parsed, "_read_tree", slow)
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(parsed.tree(CHAIN))) for _ in range(3)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and len(got) == 3 and got[0] is got[1] is got[2]


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True, width=16), st.sampled_from(["1", "a", ""])
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3),
        st.dictionaries(st.one_of(st.integers(0, 1), st.booleans(), st.just("1")), inner, max_size=2),
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(_values, _values)
def test_same_says_what_canon_equality_says(a, b):
    assert render.same(a, b) == (render.canon(a) == render.canon(b))
    assert render.same(a, a)


def test_same_tells_types_and_orders_apart_as_canon_does():
    assert not render.same({"a": 1}, {"a": 1.0}) and not render.same([True], [1])
    assert render.same({"a": 1, "b": [math.nan]}, {"b": [math.nan], "a": 1})  # order, nan
    assert not render.same({1: "x"}, {True: "x"}) and not render.same(0.0, -0.0)


# --- the graph a preview built ----------------------------------------------------------------
def test_the_graph_a_preview_built_is_the_one_drawn_after_the_save(tmp_path):
    path = tmp_path / "Pipefile"
    path.write_text(CHAIN)
    cache = pipeline_view.GraphCache()
    before = pipeline_view.pipeline_view(str(path), cache)
    answer = drafts.preview(
        str(path), before["digest"], [{"op": "set_param", "name": "lr", "value": 0.5}], graphs=cache
    )
    assert answer["errors"] == []
    drafts.save(str(path), before["digest"], [{"op": "set_param", "name": "lr", "value": 0.5}])
    offered = cache._offered[1]
    assert offered is not None and cache.get(str(path), answer["digest"]) is offered
    after = pipeline_view.pipeline_view(str(path), cache)
    assert after["digest"] == answer["digest"] and after["params"][0]["value"] == 0.5
    fresh = pipeline_view.pipeline_view(str(path))  # loaded from the file: the same drawing
    assert fresh["graph"] == after["graph"] and fresh["params"] == after["params"]
    # a preview with errors offers nothing; the file's own graph stays kept
    bad = drafts.preview(
        str(path),
        None,
        [{"op": "set", "step": "b", "field": "inputs.i", "value": "${{steps.zz.outputs.o}}"}],
        graphs=cache,
    )
    assert bad["errors"] and cache._offered[1] is offered


# --- a preview again, a draft grown, the diff of a large file ----------------------------------
DRAFT = [
    {"op": "set_param", "name": "lr", "value": 0.5},
    {"op": "set", "step": "c", "field": "command", "value": "cp ${{inputs.i}} ${{outputs.o}}"},
    {"op": "rename_step", "name": "side", "to": "side2"},
]


def test_a_draft_previewed_again_or_grown_by_one_operation_reads_no_text_it_read_before(loads, monkeypatch):
    trees: list = []
    real_tree = parsed._read_tree
    monkeypatch.setattr(parsed, "_read_tree", lambda text: trees.append(text) or real_tree(text))
    first = apply_edits(CHAIN, DRAFT)
    read, treed = len(loads), len(trees)
    again = apply_edits(CHAIN, DRAFT)  # the diff before saving what the page has just checked
    assert again.text == first.text and len(loads) == read and len(trees) == treed
    grown = apply_edits(CHAIN, DRAFT + [{"op": "set_param", "name": "epochs", "value": 3}])
    # only the last operation: the text it edits is read for its spans, its result read back
    whole = [t for t in loads[read:] if "steps:" in t]  # (not the one-value checks of how a value reads)
    assert whole == [grown.text] and trees[treed:] == [first.text]
    parsed.clear()
    fresh = apply_edits(CHAIN, DRAFT + [{"op": "set_param", "name": "epochs", "value": 3}])
    assert fresh.text == grown.text and fresh.diff == grown.diff
    # a draft undone to a prefix, then another operation: the prefix's own text is kept too
    other = apply_edits(CHAIN, DRAFT[:2] + [{"op": "set_param", "name": "lr", "value": 0.75}])
    assert "lr: 0.75" in other.text and "side2" not in other.text


def test_a_preview_of_a_text_validated_before_does_not_load_it_again_unless_a_file_it_reads_changed(
    tmp_path, monkeypatch
):
    from pipefile import load as loader

    path = tmp_path / "Pipefile"
    path.write_text(CHAIN.replace('echo a > ${{outputs.o}}"', 'cat data.txt > ${{outputs.o}}", inputs: {d: data.txt}'))
    (tmp_path / "data.txt").write_text("x\n")
    cache = pipeline_view.GraphCache()
    digest = pipeline_view.pipeline_view(str(path), cache)["digest"]
    loaded: list = []
    real = loader.load_lenient
    monkeypatch.setattr(loader, "load_lenient", lambda *a, **kw: loaded.append(a[0]) or real(*a, **kw))
    first = drafts.preview(str(path), digest, DRAFT, graphs=cache)
    assert first["errors"] == [] and len(loaded) == 1
    again = drafts.preview(str(path), digest, DRAFT, graphs=cache)
    assert again == first and len(loaded) == 1  # the page's check, then the diff before the save
    (tmp_path / "data.txt").unlink()  # what the text reads is gone: it is validated anew
    gone = drafts.preview(str(path), digest, DRAFT, graphs=cache)
    assert len(loaded) == 2 and any("data.txt" in e["message"] for e in gone["errors"]), gone["errors"]


def test_a_preview_composes_the_edited_text_once_for_its_check_and_its_validation(tmp_path, monkeypatch):
    path = tmp_path / "Pipefile"
    path.write_text(CHAIN)
    composed: list = []
    real = yamlsafe.compose
    monkeypatch.setattr(yamlsafe, "compose", lambda text, *a, **kw: composed.append(text) or real(text, *a, **kw))
    answer = drafts.preview(str(path), None, [{"op": "set_param", "name": "lr", "value": 0.5}])
    assert answer["errors"] == [] and "lr: 0.5" in answer["text"]
    # the base for the editor, then the edited text: read back by the editor, loaded from that tree
    assert [t for t in composed if "steps:" in t] == [CHAIN, answer["text"]]
    # an edit that breaks the pipeline is still told, located, from the shared tree
    bad = drafts.preview(
        str(path), None, [{"op": "set", "step": "c", "field": "inputs.i", "value": "${{steps.zz.outputs.o}}"}]
    )
    assert [(e["line"], "zz" in e["message"]) for e in bad["errors"]] == [(12, True)], bad["errors"]


MERGED = """\
version: 1
common: &common {command: "echo x > ${{outputs.o}}"}
steps:
  a:
    <<: *common
    outputs: {o: build/a.txt}
  b: {<<: *common, outputs: {o: build/b.txt}}
"""


@pytest.mark.parametrize(
    "text, shared",
    [
        (CHAIN, True),
        (CHAIN.replace("lr: 0.01", 'lr: "a\\0b"'), False),  # a NUL: the loader refuses it itself, located
        (MERGED, False),  # merge keys: PyYAML's constructor rewrites those mappings in place
        (CHAIN.replace("  side:", "  = : 1\n  side:"), False),  # a `=` key, rewritten the same way
        (CHAIN.replace("${{steps.c.outputs.o}}", "${{steps.c.outputs.nope}}"), True),
        (CHAIN.replace('command: "cat', 'comand: "cat', 1), True),
    ],
    ids=["plain", "nul", "merge-key", "eq-key", "bad-reference", "misspelt-field"],
)
def test_the_tree_a_read_back_shares_gives_the_loader_s_own_errors_and_spec(tmp_path, text, shared):
    """A text loaded from the tree its read-back composed is what loading it alone gives:
    the same errors (lines included), the same spec; no tree where it could differ."""
    from pipefile import load as loader

    path = str(tmp_path / "Pipefile")
    value, tree = yamlsafe.load_tree(text, "Pipefile", numbers=True)
    assert value == yamlsafe.load(text, "Pipefile", numbers=True)
    assert (tree is not None) == shared
    assert drafts.validate_text(path, text, composed=(text, tree)) == drafts.validate_text(path, text)
    if tree is not None:
        pf, errors = loader.load_lenient(
            path, text.encode(), composed=(text, yamlsafe.load_tree(text, "P", numbers=True)[1])
        )
        alone, alone_errors = loader.load_lenient(path, text.encode())
        assert pf == alone and [str(e) for e in errors] == [str(e) for e in alone_errors]


def test_a_preview_and_the_page_s_pipeline_run_with_the_cyclic_gc_paused(tmp_path):
    import gc

    path = tmp_path / "Pipefile"
    path.write_text(
        "steps:\n"
        + "".join(f"  s{i}: {{command: echo {i} > o{i}.txt, outputs: {{o: o{i}.txt}}}}\n" for i in range(300))
    )
    runs: list = []

    def seen(phase, info):
        if phase == "start":
            runs.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        was = gc.isenabled()
        ops = [{"op": "set_param", "name": "lr", "value": 0.5}]
        gc.collect()  # (counts from zero: none is due before the preview starts)
        runs.clear()
        answer = drafts.preview(str(path), None, ops)
        during = list(runs)
        # (the edited text's editor tree is read on a thread of its own, its GC pause counted
        # with the others: the GC is on again once that ends too)
        for t in threading.enumerate():
            if t.name == "pipe-ui-prepare":
                t.join(30)
        assert gc.isenabled() == was
        gc.collect()
        runs.clear()
        page = pipeline_view.pipeline_view(str(path))  # the page's pipeline: loaded and planned
        during_page = list(runs)
        assert gc.isenabled() == was
    finally:
        gc.callbacks.remove(seen)
    assert answer["errors"] == [] and answer["changed"] and page["ok"]
    # 300 steps' objects made with no collection walking them: at most the young generation's
    # one, run as the GC is enabled again after the work
    assert len(during) <= 1 and set(during) <= {0}, during
    assert len(during_page) <= 1 and set(during_page) <= {0}, during_page


def test_the_diff_of_a_large_file_matches_only_its_changed_part(monkeypatch):
    import difflib

    from pipefile.edit.diff import unified_diff

    old = "".join(f"  s{i}: {{command: echo {i}}}\n" for i in range(20_000))
    new = old.replace("echo 10000}", "echo changed}")
    sizes: list = []
    real = difflib.unified_diff
    monkeypatch.setattr(difflib, "unified_diff", lambda a, b, *r, **kw: sizes.append(len(a)) or real(a, b, *r, **kw))
    got = unified_diff(old, new, "Pipefile")
    assert sizes and max(sizes) < 20
    assert got == "".join(real(old.splitlines(True), new.splitlines(True), "a/Pipefile", "b/Pipefile"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a\n", "b\n", "c\n", "d"]), max_size=30), st.data())
def test_a_trimmed_diff_turns_the_old_lines_into_the_new(old, data):
    from pipefile.edit.diff import unified_lines

    new = list(old)
    for _ in range(data.draw(st.integers(0, 4))):
        i = data.draw(st.integers(0, len(new)))
        what = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        if what == "insert":
            new.insert(i, data.draw(st.sampled_from(["a\n", "n\n", "z"])))
        elif i < len(new):
            new[i : i + 1] = [] if what == "delete" else [data.draw(st.sampled_from(["q\n", "a\n"]))]
    diff = unified_lines(old, new, "a/P", "b/P")
    assert (diff == []) == (old == new)
    assert _patched(old, diff) == new


def _patched(old: list, diff: list) -> list:
    """`old` with a unified diff's hunks applied (each checked against the lines it names)."""
    import re

    out, at, k = [], 0, 2
    while k < len(diff):
        m = re.match(r"@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", diff[k])
        assert m, diff[k]
        first = int(m.group(1)) - (1 if m.group(2) != "0" else 0)
        out += old[at:first]
        at, k = first, k + 1
        while k < len(diff) and not diff[k].startswith("@@"):
            sign, line = diff[k][0], diff[k][1:]
            if sign in " -":
                assert old[at] == line
                at += 1
            if sign in " +":
                out.append(line)
            k += 1
    return out + old[at:]


# --- the neighbourhood of a step --------------------------------------------------------------
def _graph(tmp_path, text: str) -> dict:
    path = tmp_path / "Pipefile"
    path.write_text(text)
    doc = pipeline_view.pipeline_view(str(path))
    assert doc["ok"], doc["errors"]
    return doc["graph"]


def _names(graph: dict) -> set:
    return {n["name"] for n in graph["nodes"]}


def test_a_neighbourhood_is_the_steps_up_and_down_to_depth(tmp_path):
    g = _graph(tmp_path, CHAIN)
    assert _names(neighbourhood.focus(g, "c", 1)) == {"b", "c", "d"}
    two = neighbourhood.focus(g, "c", 2)
    assert _names(two) == {"a", "b", "c", "d", "e"}  # not `side`: no edge reaches it
    assert {(e["from"], e["to"]) for e in two["edges"]} == {("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")}
    assert _names(neighbourhood.focus(g, "c", 0)) == {"c"}
    assert _names(neighbourhood.focus(g, "a", 1)) == {"a", "b"}


def test_a_neighbourhood_keeps_a_task_in_its_group_and_a_group_with_its_tasks(tmp_path):
    g = _graph(tmp_path, MATRIX)
    tasks = {n["name"] for n in g["nodes"] if n.get("group") == "fit"}
    assert len(tasks) == 3
    # the group in focus brings its tasks, and what is one edge from any of them
    assert _names(neighbourhood.focus(g, "fit", 1)) == {"prep", "fit", "report"} | tasks
    one = sorted(tasks)[0]
    near = _names(neighbourhood.focus(g, one, 1))
    assert {one, "fit", "prep"} <= near and "last" not in near  # the task drawn inside its group
    assert _names(neighbourhood.focus(g, "last", 2)) >= {"last", "report", "fit"} | tasks


def test_focus_and_depth_are_refused_with_the_fix(tmp_path):
    g = _graph(tmp_path, CHAIN)
    with pytest.raises(drafts.Refusal) as e:
        neighbourhood.focus(g, "cc", 1)
    assert e.value.status == 404 and "'cc'" in str(e.value.message) and "c" in (e.value.hint or "")
    for bad in ("-1", "x", "1001", "1.5"):
        with pytest.raises(drafts.Refusal) as e:
            neighbourhood.depth_arg(bad)
        assert e.value.status == 422 and "0 to 1000" in e.value.hint
    assert neighbourhood.depth_arg(None) == 2 and neighbourhood.depth_arg("0") == 0


def test_the_server_answers_a_neighbourhood_with_an_outline_of_every_step(start, tmp_path):  # noqa: F811
    (tmp_path / "Pipefile").write_text(CHAIN)
    ui = start(tmp_path)
    whole = ui.get("/api/pipeline").json()
    assert "focus" not in whole and "outline" not in whole and len(whole["graph"]["nodes"]) == 6
    doc = ui.get("/api/pipeline", params={"focus": "c", "depth": "1"}).json()
    assert _names(doc["graph"]) == {"b", "c", "d"}
    assert doc["focus"] == {"step": "c", "depth": 1, "nodes": 6, "edges": 4}
    assert [n["name"] for n in doc["outline"]] == ["a", "b", "c", "d", "e", "side"]
    assert set(doc["outline"][0]) == {"name", "kind", "label", "state", "group", "line"}
    assert doc["outline"][2]["state"] == "pending" and doc["outline"][2]["line"] == 10
    assert {k: doc[k] for k in ("file", "digest", "text", "ok", "params")} == {
        k: whole[k] for k in ("file", "digest", "text", "ok", "params")
    }
    r = ui.get("/api/pipeline", params={"focus": "nope"})
    assert r.status_code == 404 and "nope" in r.json()["error"]["message"]
    r = ui.get("/api/pipeline", params={"focus": "c", "depth": "many"})
    assert r.status_code == 422 and r.json()["error"]["hint"]


def test_the_page_opens_from_the_spec_cache_that_pipe_run_wrote(tmp_path, monkeypatch):
    from pipefile import load as loader
    from pipefile import speccache

    monkeypatch.chdir(tmp_path)
    (tmp_path / "Pipefile").write_text(CHAIN)
    (tmp_path / ".pipe").mkdir()
    fresh = pipeline_view.pipeline_view(str(tmp_path / "Pipefile"))
    speccache.load_graph("Pipefile", keep=True)  # as `pipe run` does
    entries = sorted(p.name for p in (tmp_path / ".pipe" / "cache" / "specs").iterdir())
    assert len(entries) == 1
    reads: list = []
    real = loader.load_lenient
    monkeypatch.setattr(loader, "load_lenient", lambda *a, **kw: reads.append(a) or real(*a, **kw))
    doc = pipeline_view.pipeline_view(str(tmp_path / "Pipefile"))
    assert reads == [] and doc["graph"] == fresh["graph"] and doc["params"] == fresh["params"]
    # read only: the UI writes no entry of its own
    assert sorted(p.name for p in (tmp_path / ".pipe" / "cache" / "specs").iterdir()) == entries
    # a changed file is loaded, not taken from the entry
    (tmp_path / "Pipefile").write_text(CHAIN.replace("lr: 0.01", "lr: 0.02"))
    doc = pipeline_view.pipeline_view(str(tmp_path / "Pipefile"))
    assert len(reads) == 1 and doc["params"][0]["value"] == 0.02
