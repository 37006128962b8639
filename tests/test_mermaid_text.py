"""Mermaid written by `pipe dag` and `pipe lineage`: a name of any text (a matrix value, an
output path) stays inside its label or edge text, so the diagram still parses and shows the
name as written; plain names print as before."""

from __future__ import annotations

import re

import pytest

from pipefile.report.text import mermaid_edge, mermaid_text

# The lines pipe writes, in the subset of Mermaid's flowchart grammar it uses.
_NODE = re.compile(r'^\s+[sdp]\d+(\["[^"]*"\]|\[\("[^"]*"\)\]|\[\["[^"]*"\]\])$')
_SUBGRAPH = re.compile(r'^\s+subgraph p\d+\["[^"]*"\]$')
_EDGE = re.compile(r'^\s+[sd]\d+ -->(\|("[^"|]*"|[A-Za-z0-9_./-]+)\|)? [sd]\d+$')
_ENTITY = re.compile(r"#(\d+|quot|lt|gt);")


def _parses(text: str) -> None:
    lines = text.splitlines()
    assert lines[0] == "graph TD", text
    for line in lines[1:]:
        assert _NODE.match(line) or _SUBGRAPH.match(line) or _EDGE.match(line) or line.strip() == "end", line
        assert "<" not in _ENTITY.sub("", line.replace("<br/>", "")), line  # (no markup but line breaks)
        assert "#" not in _ENTITY.sub("", line), line


HOSTILE = ['x"];evil[', 'a"b', "<script>", "}|{", "#quot;", "tab\there"]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_stays_in_its_label(name):
    assert '"' not in mermaid_text(name) and "|" not in mermaid_text(name)
    edge = mermaid_edge(name)
    assert edge.startswith('"') and edge.endswith('"') and '"' not in edge[1:-1] and "|" not in edge


def test_plain_names_print_as_before():
    assert mermaid_text("train/prep [pipeline]") == "train/prep [pipeline]"
    assert mermaid_edge("build/model.txt") == "build/model.txt"


def test_dag_of_a_matrix_with_hostile_values_parses(repo):
    # Was: `["a[v=x"];evil[]"]` and `-->|build/}|{.txt|`: a quote ended the label, a bar the edge.
    repo.pipefile("""
        version: 1
        steps:
          a:
            matrix: {v: ['x"];evil[', 'a"b', "<script>", "}|{", "#quot;"]}
            inputs: {v: {type: string}}
            command: printf '%s' '${{inputs.v}}' > ${{outputs.o}}
            outputs: {o: "build/${{inputs.v}}.txt"}
          b:
            command: cat build/* > ${{outputs.o}}
            inputs: {d: "${{steps.a.outputs.o}}"}
            outputs: {o: all.txt}
    """)
    for args in (("dag", "--format", "mermaid"), ("dag", "--format", "mermaid", "--expand")):
        r = repo.pipe(*args)
        assert r.code == 0, str(r)
        _parses(r.out)
        assert 's0["a[v=x#quot;%5D;evil[]"]' in r.out and '-->|"build/}#124;{.txt"|' in r.out, r.out
    # and a lineage through such names (its edges are the inputs' names)
    assert repo.pipe("run").code == 0
    r = repo.pipe("lineage", "all.txt", "--format", "mermaid")
    assert r.code == 0, str(r)
    _parses(r.out)


def test_dag_text_shows_a_value_with_a_line_break_or_escape_on_its_own_line(repo):
    # Was: `pipe dag` printed a matrix value raw: a line break forged a row, an OSC
    # sequence set the terminal's title.
    repo.pipefile(r"""
        version: 1
        steps:
          a:
            matrix: {v: ["x\nfake    -> row", "\e]0;PWN\a"]}
            inputs: {v: {type: string}}
            command: printf '%s' '${{inputs.v}}' > ${{outputs.o}}
            outputs: {o: "build/${{inputs.v}}.txt"}
    """)
    r = repo.pipe("dag")
    assert r.code == 0, str(r)
    assert "\x1b" not in r.out and "\x07" not in r.out and "\nfake" not in r.out, r.out
    assert "a[v=x\\nfake    -> row]" in r.out.splitlines(), r.out
