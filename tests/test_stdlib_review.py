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


def test_a_csv_column_of_whole_numbers_beyond_64_bits_is_read_as_their_digits(repo):
    # pandas read them as Python ints, which no Parquet type holds: a traceback in every step
    repo.write("data/t.csv", "id,n\n99999999999999999999,1\n-5,2\n,3\n")
    run = step(repo, "select_columns", {"data": "data/t.csv", "columns": "id, n"}, {"data": "build/t.parquet"})
    assert run.code == 0, str(run)
    assert "data: data/t.csv: column 'id' holds whole numbers beyond 64 bits; it is read as text" in run.out + run.err
    got = pd.read_parquet(repo.root / "build/t.parquet").to_dict("list")
    assert got["id"][:2] == ["99999999999999999999", "-5"] and pd.isna(got["id"][2]) and got["n"] == [1, 2, 3]


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


# -- memory: JSON lines written a chunk at a time --------------------------------------------


def _peak_rss(args: list, cwd) -> int:
    """The peak resident memory, in bytes, of `python -m ARGS` run to its end in `cwd`."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    assert proc.returncode == 0, proc.returncode
    return usage.ru_maxrss * 1024  # (Linux: KiB)


def test_convert_format_to_json_lines_takes_no_more_memory_than_to_csv(tmp_path):
    # pandas built the whole file's text in memory, 3 to 4 times its size, before writing a
    # byte: a table that fit failed to write, with a traceback
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("ru_maxrss in KiB is Linux's")
    n = 400_000
    frame = pd.DataFrame({"a": range(n), "x": [i / 7 for i in range(n)], "s": [f"word{i % 997}" for i in range(n)]})
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    peaks = {
        fmt: _peak_rss(
            ["stdlib_components.convert_format", "--data", "t.parquet", "--format", fmt, "--converted", f"o.{fmt}"],
            tmp_path,
        )
        for fmt in ("csv", "jsonl")
    }
    size = (tmp_path / "o.jsonl").stat().st_size
    assert peaks["jsonl"] - peaks["csv"] < size / 2, (peaks, size)
    back = pd.read_json(tmp_path / "o.jsonl", lines=True)
    assert len(back) == n and back["a"].iloc[-1] == n - 1 and back["s"].iloc[-1] == f"word{(n - 1) % 997}"


# -- memory: a table too big for the step's memory is said so, not a traceback ----------------

_LIMITED = """\
import resource, runpy, sys
import numpy, pandas, pyarrow, pyarrow.parquet  # what a component imports, before the limit
size = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + int(sys.argv[1]), resource.RLIM_INFINITY))
sys.argv = sys.argv[2:]
runpy.run_module(sys.argv[0], run_name="__main__")
"""


def _python(tmp_path, *args: str):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_table_bigger_than_the_memory_the_step_may_take_is_named_with_the_fix(tmp_path):
    # pandas' CSV reader raised ENOMEM, reported as "could not be read as csv ... check the file"
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("VmSize is Linux's")
    with open(tmp_path / "t.csv", "w") as f:
        f.write("a,b,c\n")
        f.writelines(f"{i},{i * 0.5},word{i}\n" for i in range(2_000_000))
    size = (tmp_path / "t.csv").stat().st_size
    run = _python(
        tmp_path, "-c", _LIMITED, str(size // 3), "stdlib_components.select_columns",
        "--data", "t.csv", "--columns", "a", "--mode", "include", "--selected", "o.parquet",
    )  # fmt: skip
    assert run.returncode == 2, (run.returncode, run.stderr[-2000:])
    assert "Traceback" not in run.stderr, run.stderr
    assert (
        "error: std/select_columns@1: " in run.stderr
        and "t.csv is too big to read into the memory it may take" in run.stderr
    )
    assert "hint: run the step where there is more memory" in run.stderr, run.stderr
    assert not (tmp_path / "o.parquet").exists()


def test_a_component_that_runs_out_of_memory_says_so_and_exits_2(tmp_path):
    code = (
        "import numpy\n"
        "from stdlib_components._lib.errors import run_main\n"
        "run_main('std/x@1', lambda argv: numpy.empty(2**50, dtype='u1'))  # 1 PiB: more than any machine has\n"
    )
    run = _python(tmp_path, "-c", code)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert "error: std/x@1: the step ran out of the memory it may take" in run.stderr, run.stderr
    assert "hint: run the step where there is more memory" in run.stderr, run.stderr


# -- summarize_data: numbers numpy cannot bin ------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["id,n\n100000000000000000,1\n100000000000000000,2\n", "big,n\n1e308,1\n-1e308,2\n", "big,n\n1e308,1\n1e308,2\n"],
    ids=["constant-1e17", "range-overflows", "near-max"],
)
def test_summarize_draws_a_column_of_huge_numbers_or_says_it_cannot(repo, text):
    # numpy's histogram refused them ("Too many bins for data range"): a traceback, no statistics
    repo.write("data/t.csv", text)
    run = step(repo, "summarize_data", {"data": "data/t.csv"}, {"statistics": "build/s.json", "plot": "build/p.png"})
    assert run.code == 0, str(run)
    stats = json.loads(repo.read("build/s.json"))
    assert stats["rows"] == 2 and stats["plotted_columns"] == text.split("\n")[0].split(",")
    assert repo.root.joinpath("build/p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- apply_sql: whole numbers beyond SQLite's 64-bit integers --------------------------------


@pytest.mark.parametrize("big", ["99999999999999999999", "18446744073709551615"], ids=["object", "uint64"])
def test_apply_sql_loads_a_whole_number_too_big_for_sqlite_as_its_digits(repo, big):
    # to_sql failed with a traceback (OverflowError: Python int too large to convert to SQLite INTEGER)
    repo.write("data/t.csv", f"id,n\n{big},1\n7,2\n")
    run = step(
        repo,
        "apply_sql",
        {"t1": "data/t.csv", "query": "SELECT id, n FROM t1 ORDER BY n"},
        {"result": "build/r.parquet"},
    )
    assert run.code == 0, str(run)
    # (past uint64 the reader already makes it text, with its own warning)
    assert "column 'id' holds whole numbers beyond " in run.out + run.err
    assert pd.read_parquet(repo.root / "build/r.parquet").to_dict("list") == {"id": [big, "7"], "n": [1, 2]}


# -- models: infinite feature values are named ----------------------------------------------


def test_training_and_scoring_on_infinite_values_name_the_column(repo):
    # sklearn's "Input X contains infinity or a value too large" named no column
    repo.write("data/ok.csv", "a,b,target\n1,2,0\n2,3,1\n3,1,0\n4,5,1\n")
    repo.write("data/inf.csv", "a,b,target\n1,2,0\n2,-inf,1\n3,1,0\n4,5,1\n")
    run = step(repo, "train_model", {"data": "data/inf.csv", "model": "ridge"}, {"model": "build/m"})
    refused(run, "features: column(s) 'b' hold infinite values", "hint: filter those rows out first")
    body = {
        "version": 1,
        "steps": {
            "t": {
                "component": "std/train_model@1",
                "inputs": {"data": "data/ok.csv", "model": "random_forest_classifier"},
                "outputs": {"model": "build/m"},
            },
            "s": {
                "component": "std/score_model@1",
                "inputs": {"model": "${{steps.t.outputs.model}}", "data": "data/inf.csv"},
                "outputs": {"scored": "build/s.parquet"},
            },
        },
    }
    repo.pipefile(json.dumps(body))
    refused(repo.pipe("run"), "column(s) 'b' hold infinite values", "hint: filter those rows out first")


def test_a_filter_on_a_column_named_like_a_keyword_says_to_put_it_in_backticks(repo):
    # the hint spoke of names with spaces; the column `class` (iris-like data has one) has none
    repo.write("data/t.csv", "class,x\n1,a\n2,b\n")
    run = step(repo, "filter_rows", {"data": "data/t.csv", "expression": "class == 1"}, {"filtered": "build/f.parquet"})
    refused(run, "hint: column 'class' is named like a Python keyword: put it in backticks, `class`")
    run = step(
        repo, "filter_rows", {"data": "data/t.csv", "expression": "`class` == 1"}, {"filtered": "build/f.parquet"}
    )
    assert run.code == 0 and pd.read_parquet(repo.root / "build/f.parquet")["x"].tolist() == ["a"], str(run)


def test_apply_transformation_to_a_csv_of_no_rows_gives_no_rows(repo):
    # a header-only CSV's columns have no type: they were refused as "not numeric (object)"
    repo.write("data/fit.csv", "a,b\n1,2\n2,3\n3,1\n")
    repo.write("data/none.csv", "a,b\n")
    body = {
        "version": 1,
        "steps": {
            "n": {
                "component": "std/normalize_data@1",
                "inputs": {"data": "data/fit.csv"},
                "outputs": {"data": "build/n.parquet", "transform": "build/t.json"},
            },
            "s": {
                "component": "std/apply_transformation@1",
                "inputs": {"data": "data/none.csv", "transform": "${{steps.n.outputs.transform}}"},
                "outputs": {"data": "build/o.parquet"},
            },
        },
    }
    repo.pipefile(json.dumps(body))
    run = repo.pipe("run")
    assert run.code == 0, str(run)
    got = pd.read_parquet(repo.root / "build/o.parquet")
    assert list(got.columns) == ["a", "b"] and len(got) == 0


def test_a_split_fraction_that_leaves_train_empty_is_told_in_the_components_words(repo):
    # sklearn's words named test_size=None and train_size, which no Pipefile writes
    repo.write("data/t.csv", "a\n1\n2\n3\n")
    run = step(
        repo,
        "split_data",
        {"data": "data/t.csv", "fraction": 0.3},
        {"train": "build/a.parquet", "test": "build/b.parquet"},
    )
    text = refused(run, "fraction: 0.3 of 3 rows leaves `train` with no row", "hint: give a fraction of at least 1/3")
    assert "train_size" not in text and "test_size" not in text, text


@pytest.mark.parametrize(
    "truth, predicted",
    [
        (["1", "0", "1", "0"], [1.0, 0.0, 1.0, 1.0]),  # text numbers against a float model's classes
        ([1.0, 0.0, 1.0, 0.0], ["1", "0", "1", "1"]),  # and the other way
    ],
)
def test_evaluate_model_counts_a_class_written_as_text_as_that_class(repo, truth, predicted):
    # "1" and 1.0 were compared as text ("1" against "1.0"): every row counted wrong, accuracy 0
    (repo.root / "data").mkdir()
    pd.DataFrame({"target": truth, "prediction": predicted}).to_parquet(repo.root / "data/scored.parquet")
    run = step(
        repo,
        "evaluate_model",
        {"scored": "data/scored.parquet", "task": "classification"},
        {"metrics": "build/m.json", "report": "build/r.png"},
    )
    assert run.code == 0, str(run)
    metrics = json.loads((repo.root / "build/m.json").read_text())
    assert metrics["accuracy"] == 0.75 and metrics["confusion_matrix"]["matrix"] == [[1, 1], [0, 2]], metrics


def test_evaluate_model_refuses_text_classes_against_numbers_it_cannot_match(repo):
    # "yes"/"no" against a model's 0/1 matched no row: accuracy 0, as if the model were always wrong
    (repo.root / "data").mkdir()
    frame = pd.DataFrame({"target": ["yes", "no", "yes", "no"], "prediction": [1, 0, 1, 1]})
    frame.to_parquet(repo.root / "data/scored.parquet")
    run = step(
        repo, "evaluate_model", {"scored": "data/scored.parquet"}, {"metrics": "build/m.json", "report": "build/r.png"}
    )
    refused(
        run,
        "label: the classes are of two kinds, no class in both: 'target' text ('no', 'yes'), 'prediction' numbers (0, 1)",
        "give both one kind of value first",
    )
    assert not (repo.root / "build/m.json").exists()


def test_evaluate_model_reads_a_regression_label_written_as_text_numbers(repo):
    # "1.5" as text: regression was refused with "give task: classification", and classification
    # with "give task: regression": no task gave an answer
    (repo.root / "data").mkdir()
    frame = pd.DataFrame({"target": ["1.5", "0.25", "2", "3"], "prediction": [1.5, 0.25, 2.5, 3.0]})
    frame.to_parquet(repo.root / "data/scored.parquet")
    run = step(
        repo, "evaluate_model", {"scored": "data/scored.parquet"}, {"metrics": "build/m.json", "report": "build/r.png"}
    )
    assert run.code == 0, str(run)
    metrics = json.loads((repo.root / "build/m.json").read_text())
    assert metrics["task"] == "regression" and metrics["mae"] == 0.125, metrics
    assert (repo.root / "build/r.png").stat().st_size > 0
