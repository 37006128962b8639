"""The std components fed what a user's files really hold, through a real `pipe run`: rows
longer than their header, duplicate JSON keys, and the like. Each gives the documented table or
fails its step (exit 1) with one located message; never a silently shifted or dropped value."""

from __future__ import annotations

import json

import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")


def step(repo, component: str, inputs: dict, outputs: dict):
    """`pipe run` of a Pipefile holding one step `s` of std/COMPONENT@1."""
    body = {"version": 1, "steps": {"s": {"component": f"std/{component}@1", "inputs": inputs, "outputs": outputs}}}
    repo.pipefile(json.dumps(body))  # JSON is YAML: no quoting to get wrong
    return repo.pipe("run")


def refused(run, *words: str) -> str:
    """The step failed with the component's one located message holding `words`."""
    text = run.out + run.err
    assert run.code == 1, str(run)
    assert "Traceback" not in text, text
    assert "error: step 's' (std/" in text, text
    for w in words:
        assert w in text, text
    return text


# -- CSV rows longer than the header --------------------------------------------------------


def test_a_trailing_delimiter_on_every_row_keeps_each_value_in_its_column(repo):
    # pandas took the first column as the index when the rows were longer than the header:
    # written without it, `a` held b's values and `b` nothing
    repo.write("data/t.csv", "a,b\n1,2,\n3,4,\n")
    run = step(repo, "import_data", {"source": "data/t.csv"}, {"data": "build/t.parquet"})
    assert run.code == 0, str(run)
    got = pd.read_parquet(repo.root / "build/t.parquet")
    assert got.to_dict("list") == {"a": [1, 3], "b": [2, 4]}


@pytest.mark.parametrize(
    ("text", "line"),
    [("a,b\n1,2,3\n4,5\n", 2), ("a,b\n1,2\n3,4,5\n", 3)],
    ids=["first-row", "later-row"],
)
def test_a_row_with_more_values_than_the_header_is_refused_at_its_line(repo, text, line):
    # the first row's extra value shifted every value one column left, silently
    repo.write("data/t.csv", text)
    run = step(repo, "select_columns", {"data": "data/t.csv", "columns": "a"}, {"data": "build/t.parquet"})
    refused(run, f"data: data/t.csv:{line}: a row has 3 values but the header names 2 columns", "hint: name every")
    assert not (repo.root / "build/t.parquet").exists()


# -- JSON lines: one key twice in a record --------------------------------------------------


@pytest.mark.parametrize(
    "record", ['{"a": 1, "b": 2, "a": 3}', '{"a": 1, "b": {"x": 1, "x": 2}}'], ids=["top", "nested"]
)
def test_a_json_lines_record_with_a_key_twice_is_refused_at_its_line(repo, record):
    # the last value was kept and the first dropped, unseen
    repo.write("data/t.jsonl", '{"a": 0, "b": 0}\n' + record + "\n")
    run = step(repo, "import_data", {"source": "data/t.jsonl"}, {"data": "build/t.parquet"})
    refused(run, "source: data/t.jsonl:2: a record gives the key", "twice", "hint: give each key once")
    assert not (repo.root / "build/t.parquet").exists()


def test_json_lines_with_a_bom_and_blank_lines_still_read(repo):
    (repo.root / "data").mkdir()
    (repo.root / "data/t.jsonl").write_bytes(b'\xef\xbb\xbf{"a": 1, "b": "x"}\n\n{"a": 2, "b": "y"}\n')
    run = step(repo, "import_data", {"source": "data/t.jsonl"}, {"data": "build/t.parquet"})
    assert run.code == 0, str(run)
    assert pd.read_parquet(repo.root / "build/t.parquet").to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}
