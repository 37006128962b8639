"""The std components fed the data a user brings, through a real `pipe run`: odd delimiters and
encodings, nested and duplicate columns, huge numbers, missing keys, bad params, files that are
not models. Each either succeeds with the documented result or fails its step (exit 1) with one
located message that names the input and the fix, and never a traceback."""

from __future__ import annotations

import json
import pickle

import pytest

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pytest.importorskip("sklearn")


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


def parquet(repo, rel: str, frame) -> str:
    path = repo.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return rel


# -- table inputs: delimiters, encodings, column names --------------------------------------


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_a_csv_with_another_delimiter_is_read_as_its_columns(repo, sep):
    repo.write("data/t.csv", sep.join(["a", "b c", "target"]) + "\n" + sep.join(["1", "2", "0"]) + "\n")
    run = step(repo, "import_data", {"source": "data/t.csv"}, {"data": "build/t.parquet"})
    assert run.code == 0, str(run)
    got = pd.read_parquet(repo.root / "build/t.parquet")
    assert list(got.columns) == ["a", "b c", "target"] and got.iloc[0].tolist() == [1, 2, 0]


def test_a_semicolon_csv_with_decimal_commas_is_read_as_numbers(repo):
    # a spreadsheet that writes `;` writes 1,5 for 1.5: the column was text, which no model takes
    repo.write("data/t.csv", "price;n;city\n1,5;2;Oslo\n-2,25;3;Bergen\n;4;Oslo\n")
    run = step(repo, "import_data", {"source": "data/t.csv"}, {"data": "build/t.parquet"})
    assert run.code == 0, str(run)
    got = pd.read_parquet(repo.root / "build/t.parquet")
    assert got["price"].dtype == "float64" and got["price"].tolist()[:2] == [1.5, -2.25] and got["price"].isna()[2]
    assert got["n"].tolist() == [2, 3, 4] and got["city"].tolist() == ["Oslo", "Bergen", "Oslo"]


def test_a_semicolon_csv_column_of_codes_with_leading_zeros_stays_text(repo):
    # 01,02 is no number a spreadsheet writes (it writes 1,02): codes such as a day and month
    # were read as 1.02, 3.04 ... and the text was lost
    repo.write("data/t.csv", "code;price\n01,02;0,5\n03,04;10\n")
    run = step(repo, "import_data", {"source": "data/t.csv"}, {"data": "build/t.parquet"})
    assert run.code == 0, str(run)
    got = pd.read_parquet(repo.root / "build/t.parquet")
    assert got["code"].tolist() == ["01,02", "03,04"]
    assert got["price"].dtype == "float64" and got["price"].tolist() == [0.5, 10.0]


def test_a_comma_csv_with_semicolons_in_its_text_stays_comma_separated(repo):
    repo.write("data/t.csv", 'a,note\n1,"x; y"\n')
    run = step(repo, "import_data", {"source": "data/t.csv"}, {"data": "build/t.parquet"})
    assert run.code == 0, str(run)
    assert pd.read_parquet(repo.root / "build/t.parquet")["note"].tolist() == ["x; y"]


def test_a_semicolon_csv_whose_header_quotes_a_comma_is_read_as_its_columns(repo):
    # the comma inside the quoted name made the file read as comma-separated: one column
    # named 'x,y;z', the rows' text split at their decimal commas, and the step succeeded
    repo.write("data/t.csv", '"x,y";z\n1,5;2\n2,5;3\n')
    run = step(repo, "import_data", {"source": "data/t.csv"}, {"data": "build/t.parquet"})
    assert run.code == 0, str(run)
    got = pd.read_parquet(repo.root / "build/t.parquet")
    assert list(got.columns) == ["x,y", "z"]
    assert got["x,y"].tolist() == [1.5, 2.5] and got["z"].tolist() == [2, 3]


@pytest.mark.parametrize("name", ["data/t.jsonl", "data/t"])
def test_a_json_lines_file_with_a_bom_is_read(repo, name):
    # Notepad and PowerShell write a BOM: it was 'could not be read as jsonl: Expected object
    # or value at position 0' (and a file without a suffix was sniffed as CSV)
    (repo.root / "data").mkdir()
    (repo.root / name).write_bytes(b'\xef\xbb\xbf{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n')
    run = step(repo, "import_data", {"source": name}, {"data": "build/t.parquet"})
    assert run.code == 0, str(run)
    got = pd.read_parquet(repo.root / "build/t.parquet")
    assert got.to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}


def test_a_latin1_csv_is_refused_naming_the_file_and_the_fix(repo):
    (repo.root / "data").mkdir()
    (repo.root / "data/t.csv").write_bytes("name,n\ncafé,1\n".encode("latin-1"))
    run = step(repo, "select_columns", {"data": "data/t.csv", "columns": "name"}, {"data": "build/t.parquet"})
    refused(run, "data/t.csv is not UTF-8 text", "save the file as UTF-8")


def test_a_parquet_file_with_two_columns_of_one_name_is_refused_by_name(repo):
    import pyarrow.parquet as pq

    (repo.root / "data").mkdir()
    table = pa.table([pa.array([1, 2]), pa.array([3, 4]), pa.array([0, 1])], names=["a", "a", "target"])
    pq.write_table(table, repo.root / "data/t.parquet")
    run = step(repo, "summarize_data", {"data": "data/t.parquet"}, {"statistics": "s.json", "plot": "s.png"})
    refused(run, "has more than one column named 'a'", "give each column its own name")


def test_a_nested_parquet_column_is_summarized_as_text(repo):
    frame = pd.DataFrame({"n": [1, 2, 3], "s": [{"x": 1}, {"x": 1}, {"x": 2}], "l": [[1], [2, 3], []]})
    parquet(repo, "data/t.parquet", frame)
    run = step(repo, "summarize_data", {"data": "data/t.parquet"}, {"statistics": "s.json", "plot": "s.png"})
    assert run.code == 0, str(run)
    stats = json.loads(repo.read("s.json"))["columns"]
    assert stats["s"]["distinct"] == 2 and stats["s"]["top"][0] == {"value": "{'x': 1}", "count": 2}
    assert stats["l"]["distinct"] == 3 and {"value": "[2, 3]", "count": 1} in stats["l"]["top"]
    assert stats["n"]["mean"] == 2.0


def test_an_empty_table_is_summarized_and_converted(repo):
    repo.write("data/t.csv", "a,b\n")
    run = step(repo, "summarize_data", {"data": "data/t.csv"}, {"statistics": "s.json", "plot": "s.png"})
    assert run.code == 0, str(run)
    assert json.loads(repo.read("s.json"))["rows"] == 0


# -- normalize: constant and huge columns ------------------------------------------------------


def test_a_constant_column_normalizes_to_zero_not_nan(repo):
    repo.write("data/t.csv", "a,b\n5,1\n5,2\n5,3\n")
    for method in ("zscore", "minmax"):
        run = step(
            repo,
            "normalize_data",
            {"data": "data/t.csv", "method": method},
            {"data": "n.parquet", "transform": "t.json"},
        )
        assert run.code == 0, str(run)
        assert pd.read_parquet(repo.root / "n.parquet")["a"].tolist() == [0.0, 0.0, 0.0]


def test_values_near_the_float_limit_are_scaled_not_zeroed(repo):
    repo.write("data/t.csv", "a\n1e308\n1e307\n0\n0\n")
    run = step(repo, "normalize_data", {"data": "data/t.csv"}, {"data": "n.parquet", "transform": "t.json"})
    assert run.code == 0, str(run)
    scaled = pd.read_parquet(repo.root / "n.parquet")["a"]
    assert scaled.notna().all() and scaled.iloc[0] > 1.5 and scaled.iloc[2] < 0  # not the 0s of scale inf
    fit = json.loads(repo.read("t.json"))["columns"]["a"]
    assert fit["scale"] > 1e307  # a number, never null
    assert abs(scaled.mean()) < 1e-9 and abs(scaled.std(ddof=0) - 1) < 1e-9


def test_a_spread_wider_than_a_float_is_refused_by_column(repo):
    repo.write("data/t.csv", "a\n1.5e308\n-1.5e308\n")
    run = step(
        repo, "normalize_data", {"data": "data/t.csv", "method": "minmax"}, {"data": "n.parquet", "transform": "t.json"}
    )
    refused(run, "columns: column 'a' spreads wider than a float can hold", "std/filter_rows")


# -- split ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0, 1])
def test_a_split_fraction_on_its_bounds_is_refused_by_the_step(repo, fraction):
    # (0 and 1 are inside the input's inclusive min: and max:, yet leave one side empty)
    repo.write("data/t.csv", "a\n1\n2\n3\n4\n")
    run = step(
        repo, "split_data", {"data": "data/t.csv", "fraction": fraction}, {"train": "a.parquet", "test": "b.parquet"}
    )
    refused(run, "fraction:", "is not between 0 and 1")


@pytest.mark.parametrize("fraction, why", [(1.5, "above its max 1"), (-0.1, "below its min 0")])
def test_a_split_fraction_out_of_its_bounds_is_refused_before_anything_runs(repo, fraction, why):
    repo.write("data/t.csv", "a\n1\n2\n3\n4\n")
    run = step(
        repo, "split_data", {"data": "data/t.csv", "fraction": fraction}, {"train": "a.parquet", "test": "b.parquet"}
    )
    assert run.code == 2, str(run)
    assert f"input 'fraction' of step 's' is {fraction}, {why}" in run.err, str(run)
    assert not (repo.root / "a.parquet").exists()


def test_a_split_keeps_every_row_once(repo):
    repo.write("data/t.csv", "a\n" + "".join(f"{i}\n" for i in range(7)))
    run = step(repo, "split_data", {"data": "data/t.csv", "fraction": 0.5}, {"train": "a.parquet", "test": "b.parquet"})
    assert run.code == 0, str(run)
    rows = (
        pd.read_parquet(repo.root / "a.parquet")["a"].tolist() + pd.read_parquet(repo.root / "b.parquet")["a"].tolist()
    )
    assert sorted(rows) == list(range(7))


def test_a_stratify_column_with_missing_values_is_refused_by_name(repo):
    repo.write("data/t.csv", "a,target\n1,0\n2,\n3,1\n4,0\n5,1\n6,\n")
    run = step(
        repo,
        "split_data",
        {"data": "data/t.csv", "fraction": 0.5, "stratify_column": "target"},
        {"train": "a.parquet", "test": "b.parquet"},
    )
    refused(run, "stratify_column: column 'target' has 2 missing value(s)", "std/clean_missing_data")


# -- join ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["inner", "left", "outer"])
def test_a_missing_key_matches_nothing(repo, how):
    parquet(repo, "l.parquet", pd.DataFrame({"k": [1.0, None, 2.0], "a": [10, 20, 30]}))
    parquet(repo, "r.parquet", pd.DataFrame({"k": [None, 2.0], "b": [5, 6]}))
    run = step(
        repo, "join_data", {"left": "l.parquet", "right": "r.parquet", "keys": "k", "how": how}, {"joined": "j.parquet"}
    )
    assert run.code == 0, str(run)
    got = pd.read_parquet(repo.root / "j.parquet")
    # the left row of no key never gets the right row of no key's b
    assert got[got["a"] == 20]["b"].isna().all() if how != "inner" else 20 not in got["a"].tolist()
    assert got[got["a"] == 30]["b"].tolist() == [6]
    assert len(got) == {"inner": 1, "left": 3, "outer": 4}[how]


def test_a_many_to_many_join_says_so(repo):
    parquet(repo, "l.parquet", pd.DataFrame({"k": ["x", "x", "y"], "a": [1, 2, 3]}))
    parquet(repo, "r.parquet", pd.DataFrame({"k": ["x", "x", "y"], "b": [4, 5, 6]}))
    run = step(repo, "join_data", {"left": "l.parquet", "right": "r.parquet", "keys": "k"}, {"joined": "j.parquet"})
    assert run.code == 0, str(run)
    assert len(pd.read_parquet(repo.root / "j.parquet")) == 5
    assert "keys: 1 key value(s) repeat in both tables ('x')" in run.out + run.err


# -- model folders that are not models ------------------------------------------------------


def model_folder(repo, pkl: bytes | None) -> str:
    info = {
        "format": "pipefile-sklearn-model",
        "estimator": "linear_regression",
        "task": "regression",
        "label": "target",
        "feature_columns": ["a"],
    }
    repo.write("m/model.json", json.dumps(info))
    if pkl is not None:
        (repo.root / "m/model.pkl").write_bytes(pkl)
    return "m"


@pytest.mark.parametrize(
    "pkl, words",
    [
        (b"not a pickle at all", "m/model.pkl does not load as a pickled model"),
        (pickle.dumps({"a": 1}), "m/model.pkl holds a dict, not a fitted model"),
        (None, "is not a model folder (no model.pkl)"),
    ],
    ids=["not-a-pickle", "a-dict", "no-pkl"],
)
def test_a_model_folder_without_a_model_is_refused_by_file(repo, pkl, words):
    repo.write("data/t.csv", "a\n1\n")
    model = model_folder(repo, pkl)
    run = step(repo, "score_model", {"model": model, "data": "data/t.csv"}, {"scored": "s.parquet"})
    refused(run, words, "bind the `model` output of std/train_model")


# -- evaluation and cross-validation -------------------------------------------------------------


def test_a_scored_table_with_missing_predictions_is_refused_by_column(repo):
    parquet(repo, "s.parquet", pd.DataFrame({"target": [1.0, 2.0, 3.0], "prediction": [1.0, None, 3.0]}))
    run = step(repo, "evaluate_model", {"scored": "s.parquet"}, {"metrics": "m.json", "report": "r.png"})
    refused(run, "scored: column 'prediction' has 1 missing value(s)", "prediction.notna()")


def test_cross_validation_whose_fold_keeps_one_class_names_the_fold_not_the_label(repo):
    # two classes in the table, but the rare one (one row) cannot be in every fold's training rows
    repo.write("data/t.csv", "a,target\n1,0\n2,0\n3,0\n4,1\n")
    run = step(
        repo,
        "cross_validate",
        {"data": "data/t.csv", "model": "logistic_regression", "folds": 3},
        {"metrics": "m.json"},
    )
    text = refused(
        run, "leaves its training rows one class only", "the rarest class, 1, has 1 row(s)", "give fewer folds"
    )
    assert "has one class only" not in text


# -- string params that start with a dash ---------------------------------------------------


def test_a_string_param_that_starts_with_a_dash_reaches_the_component(repo):
    # the command passes `--value -n/a`: argparse read '-n/a' as an option and failed the step
    # with a usage error that no quoting in the Pipefile could avoid
    data = parquet(repo, "data/t.parquet", pd.DataFrame({"a": [1.0, -2.0, 3.0], "b": ["x", None, "z"]}))
    run = step(
        repo,
        "clean_missing_data",
        {"data": data, "columns": "b", "strategy": "constant", "value": "-n/a"},
        {"data": "build/c.parquet", "report": "build/r.json"},
    )
    assert run.code == 0, str(run)
    assert pd.read_parquet(repo.root / "build/c.parquet")["b"].tolist() == ["x", "-n/a", "z"]
    run = step(repo, "filter_rows", {"data": data, "expression": "-a<0"}, {"filtered": "build/f.parquet"})
    assert run.code == 0, str(run)
    assert pd.read_parquet(repo.root / "build/f.parquet")["a"].tolist() == [1.0, 3.0]


def test_a_string_param_of_exactly_two_dashes_reaches_the_component(repo):
    # `--value=--`: Python 3.11's argparse drops a `--` from an option's values, so a fill value
    # (or a column) named `--` arrived as no value: "columns: no column is named", or an empty fill.
    data = parquet(repo, "data/t.parquet", pd.DataFrame({"--": [1.0, 2.0], "b": ["x", None]}))
    run = step(
        repo,
        "clean_missing_data",
        {"data": data, "columns": "b", "strategy": "constant", "value": "--"},
        {"data": "build/c.parquet", "report": "build/r.json"},
    )
    assert run.code == 0, str(run)
    assert pd.read_parquet(repo.root / "build/c.parquet")["b"].tolist() == ["x", "--"]
    run = step(repo, "select_columns", {"data": data, "columns": "--"}, {"data": "build/s.parquet"})
    assert run.code == 0, str(run)
    assert list(pd.read_parquet(repo.root / "build/s.parquet").columns) == ["--"]
