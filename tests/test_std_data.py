"""The std data components (issue 14), script by script: what each writes on tiny tables, and
each documented bad input refused with a ComponentError that names the parameter or column.

Most cases call a script's `main` in process (fast); `test_errors_in_a_real_process` runs the
scripts as `python -m stdlib_components.NAME`, as a step does, for each shape of failure.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workspace_repo import REPO_ROOT

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("sklearn")

from stdlib_components._lib.errors import ComponentError  # noqa: E402

STD = Path(REPO_ROOT) / "stdlib_components"
DATA_COMPONENTS = [
    "sample_data",
    "import_data",
    "select_columns",
    "clean_missing_data",
    "split_data",
    "normalize_data",
    "apply_transformation",
    "join_data",
    "filter_rows",
    "apply_sql",
    "convert_format",
    "summarize_data",
]


def call(component: str, *args) -> None:
    importlib.import_module(f"stdlib_components.{component}.__main__").main([str(a) for a in args])


def refused(component: str, *args) -> ComponentError:
    with pytest.raises(ComponentError) as info:
        call(component, *args)
    return info.value


def run(component: str, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    cmd = [sys.executable, "-m", f"stdlib_components.{component}", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def people(tmp_path) -> Path:
    return people_path(tmp_path)


def people_path(tmp_path) -> Path:
    """A tiny table with a text column, number columns and missing values, as Parquet."""
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "name": ["ann", "bob", None, "dee", "bob"],
            "age": [30.0, None, 50.0, 20.0, 40.0],
            "score": [1.0, 2.0, 3.0, None, 5.0],
        }
    )
    path = tmp_path / "people.parquet"
    frame.to_parquet(path, index=False)
    return path


def table(path) -> pd.DataFrame:
    return pd.read_parquet(path)


# --- the specs -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DATA_COMPONENTS)
def test_each_spec_has_its_folders_name_a_version_and_uses_every_port(name):
    spec = yaml.safe_load((STD / name / "component.yaml").read_text())
    assert spec["name"] == name and spec["version"] == "1.0.0" and spec["description"]
    for kind in ("inputs", "outputs"):
        for port, decl in spec.get(kind, {}).items():
            assert decl["description"], (name, port)
            assert f"${{{{{kind}.{port}}}}}" in spec["command"], (name, port)
            if kind == "outputs":
                assert decl["type"] in ("uri_file", "uri_folder")
    assert spec["command"].startswith(f"python -m stdlib_components.{name}")


# --- sample_data -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["iris", "wine", "diabetes", "breast_cancer", "digits"])
def test_sample_data_writes_each_bundled_dataset_with_a_target_column(tmp_path, name):
    call("sample_data", "--name", name, "--data", tmp_path / "d.parquet")
    frame = table(tmp_path / "d.parquet")
    assert "target" in frame.columns and len(frame) > 100


def test_sample_data_refuses_an_unknown_name_with_did_you_mean(tmp_path):
    err = refused("sample_data", "--name", "irs", "--data", tmp_path / "d.parquet")
    assert err.message.startswith("name: 'irs'") and "'iris'" in err.hint
    assert not (tmp_path / "d.parquet").exists()
    err = refused("sample_data", "--name", "mnist", "--data", tmp_path / "d.parquet")
    assert "breast_cancer" in err.hint  # the choices, where nothing is close


# --- import_data -----------------------------------------------------------------------------


def test_import_data_reads_a_file_in_each_format(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    (tmp_path / "t.txt").write_text("a,b\n1,x\n2,y\n")  # no known suffix: format says what it is
    for src, fmt in [("t.csv", "auto"), ("t.jsonl", "auto"), ("t.parquet", "auto"), ("t.txt", "csv")]:
        call("import_data", "--source", tmp_path / src, "--format", fmt, "--data", tmp_path / "out.parquet")
        got = table(tmp_path / "out.parquet")
        assert got["a"].tolist() == [1, 2] and got["b"].tolist() == ["x", "y"], src


def test_import_data_stacks_a_folder_in_name_order(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    pd.DataFrame({"a": [3], "b": ["z"]}).to_parquet(folder / "2.parquet", index=False)
    (folder / "1.csv").write_text("a,b\n1,x\n2,y\n")
    (folder / "README").write_text("not a table: skipped, it has no table suffix\n")
    call("import_data", "--source-folder", folder, "--data", tmp_path / "out.parquet")
    assert table(tmp_path / "out.parquet")["a"].tolist() == [1, 2, 3]


def test_import_data_skips_hidden_files_of_a_folder(tmp_path):
    folder = tmp_path / "parts"
    (folder / ".git").mkdir(parents=True)
    (folder / "1.csv").write_text("a\n1\n")
    (folder / ".~lock.1.csv").write_text("an editor's lock file\n")
    (folder / ".git" / "x.csv").write_text("b\n2\n")
    call("import_data", "--source-folder", folder, "--format", "csv", "--data", tmp_path / "out.parquet")
    assert table(tmp_path / "out.parquet")["a"].tolist() == [1]


def test_a_column_of_mixed_types_is_named_not_a_traceback(tmp_path):
    src = tmp_path / "mixed.jsonl"
    src.write_text('{"a": 1, "b": 1}\n{"a": "x", "b": 2}\n')
    err = refused("import_data", "--source", src, "--data", tmp_path / "out.parquet")
    assert err.message.startswith("column 'a' holds values of several types (int, str)")
    assert not (tmp_path / "out.parquet").exists()


def test_import_data_bad_inputs_name_the_parameter(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    out = tmp_path / "out.parquet"
    err = refused("import_data", "--source-folder", folder, "--data", out)
    assert err.message.startswith("source_folder:") and "no table files" in err.message
    (folder / "1.csv").write_text("a,b\n1,x\n")
    (folder / "2.csv").write_text("a,c\n2,y\n")
    err = refused("import_data", "--source-folder", folder, "--data", out)
    assert "2.csv has other columns" in err.message and "adds c" in err.message and "lacks b" in err.message
    err = refused("import_data", "--source", folder, "--data", out)
    assert err.message.startswith("source:") and "source_folder" in err.hint
    err = refused("import_data", "--source-folder", folder / "1.csv", "--data", out)
    assert err.message.startswith("source_folder:") and "`source`" in err.hint
    err = refused("import_data", "--data", out)
    assert "exactly one of `source`" in err.message
    err = refused("import_data", "--source", folder / "1.csv", "--source-folder", folder, "--data", out)
    assert "exactly one of `source`" in err.message
    err = refused("import_data", "--source", folder / "1.csv", "--format", "parqet", "--data", out)
    assert err.message.startswith("format:") and "'parquet'" in err.hint
    err = refused("import_data", "--source", folder / "1.csv", "--format", "parquet", "--data", out)
    assert err.message.startswith("source:") and "could not be read as parquet" in err.message
    err = refused("import_data", "--source", tmp_path / "nope.csv", "--data", out)
    assert "does not exist" in err.message
    assert not out.exists()


# --- select_columns --------------------------------------------------------------------------


def test_select_columns_includes_in_the_given_order_or_excludes(people, tmp_path):
    out = tmp_path / "s.parquet"
    call("select_columns", "--data", people, "--columns", " score, id ,score", "--selected", out)
    assert list(table(out).columns) == ["score", "id"]
    call("select_columns", "--data", people, "--columns", "name", "--mode", "exclude", "--selected", out)
    assert list(table(out).columns) == ["id", "age", "score"]


def test_select_columns_bad_inputs(people, tmp_path):
    out = tmp_path / "s.parquet"
    err = refused("select_columns", "--data", people, "--columns", "id,scor", "--selected", out)
    assert err.message == "columns: column 'scor' is not in the input" and "'score'" in err.hint
    err = refused("select_columns", "--data", people, "--columns", "id", "--mode", "exlude", "--selected", out)
    assert err.message.startswith("mode:") and "'exclude'" in err.hint
    err = refused("select_columns", "--data", people, "--columns", " , ", "--selected", out)
    assert err.message.startswith("columns: no column")
    err = refused(
        "select_columns", "--data", people, "--columns", "id,name,age,score", "--mode", "exclude", "--selected", out
    )
    assert "leaves no column" in err.message
    assert not out.exists()


# --- clean_missing_data ----------------------------------------------------------------------


def clean(people, tmp_path, *args):
    call(
        "clean_missing_data",
        "--data",
        people,
        *args,
        "--cleaned",
        tmp_path / "c.parquet",
        "--report",
        tmp_path / "r.json",
    )
    return table(tmp_path / "c.parquet"), json.loads((tmp_path / "r.json").read_text())


def test_clean_missing_data_drops_rows_by_default_over_all_columns(people, tmp_path):
    frame, report = clean(people, tmp_path)
    assert frame["id"].tolist() == [1, 5]
    assert report["rows_in"] == 5 and report["rows_out"] == 2 and report["rows_dropped"] == 3
    assert report["columns"]["age"] == {"missing": 1} and report["columns"]["id"] == {"missing": 0}


def test_clean_missing_data_fills_by_each_strategy(people, tmp_path):
    frame, report = clean(people, tmp_path, "--columns", "age,score", "--strategy", "mean")
    assert frame["age"].tolist() == [30.0, 35.0, 50.0, 20.0, 40.0] and frame["score"].tolist()[3] == 2.75
    assert report["columns"]["age"] == {"missing": 1, "filled_with": 35.0} and report["rows_dropped"] == 0
    frame, _ = clean(people, tmp_path, "--columns", "age", "--strategy", "median")
    assert frame["age"].tolist()[1] == 35.0 and frame["score"].isna().sum() == 1  # other columns untouched
    frame, report = clean(people, tmp_path, "--columns", "name", "--strategy", "mode")
    assert frame["name"].tolist()[2] == "bob" and report["columns"]["name"]["filled_with"] == "bob"
    frame, _ = clean(people, tmp_path, "--strategy", "constant", "--columns", "name", "--value", "unknown")
    assert frame["name"].tolist()[2] == "unknown"
    frame, report = clean(people, tmp_path, "--strategy", "constant", "--columns", "age,score", "--value", "0")
    assert frame["age"].tolist()[1] == 0.0 and report["columns"]["score"]["filled_with"] == 0.0


def test_clean_missing_data_bad_inputs(people, tmp_path):
    def bad(*args):
        return refused(
            "clean_missing_data", "--data", people, *args, "--cleaned", tmp_path / "c", "--report", tmp_path / "r"
        )

    err = bad("--strategy", "median_value")
    assert err.message.startswith("strategy:") and "'median'" in err.hint
    err = bad("--columns", "agee")
    assert err.message == "columns: column 'agee' is not in the input" and "'age'" in err.hint
    err = bad("--strategy", "mean")  # all columns: `name` is text with a missing value
    assert err.message.startswith("columns: column 'name' is not numeric") and "mode or constant" in err.hint
    err = bad("--strategy", "constant", "--columns", "age")
    assert err.message.startswith("value: strategy constant needs")
    err = bad("--strategy", "constant", "--columns", "age", "--value", "n/a")
    assert err.message.startswith("value: 'n/a' is not a number") and "'age'" in err.message
    err = bad("--strategy", "mean", "--value", "0")
    assert err.message.startswith("value: it is used only by strategy constant")
    assert not (tmp_path / "c").exists() and not (tmp_path / "r").exists()


def test_clean_missing_data_reads_a_constant_as_the_columns_kind(tmp_path):
    path = tmp_path / "t.parquet"
    frame = pd.DataFrame(
        {"flag": [True, None, False], "when": pd.to_datetime(["2024-01-01", None, "2024-03-01"]), "n": [1.0, None, 2.0]}
    )
    frame.to_parquet(path)

    def fill(column, value):
        call("clean_missing_data", "--data", path, "--columns", column, "--strategy", "constant", "--value", value,
             "--cleaned", tmp_path / "c", "--report", tmp_path / "r")  # fmt: skip
        return table(tmp_path / "c")[column].tolist()[1]

    assert fill("flag", "Yes") is True and fill("flag", "0") is False
    assert fill("when", "2024-02-01") == pd.Timestamp("2024-02-01")
    assert fill("when", "2024-02-01 10:30") == pd.Timestamp("2024-02-01 10:30")
    for column, value, says in [
        ("flag", "maybe", "value: 'maybe' is not true or false, and column 'flag' holds true/false values"),
        ("when", "soon", "value: 'soon' is not a date (YYYY-MM-DD), and column 'when' holds dates and times"),
        (
            "when",
            "12/01/2024",
            "value: '12/01/2024' is not a date (YYYY-MM-DD), and column 'when' holds dates and times",
        ),
        ("n", "n/a", "value: 'n/a' is not a number, and column 'n' holds numbers"),
    ]:
        err = refused("clean_missing_data", "--data", path, "--columns", column, "--strategy", "constant",
                      "--value", value, "--cleaned", tmp_path / "c", "--report", tmp_path / "r")  # fmt: skip
        assert err.message == says and f"leave {column!r} out" in err.hint


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-Infinity", "1e400"])
def test_clean_missing_data_refuses_a_constant_that_is_no_finite_number(tmp_path, value):
    # float() takes these: "nan" filled nothing (the gaps stayed and the step succeeded), "inf"
    # filled a value the report wrote as null
    path = tmp_path / "t.parquet"
    pd.DataFrame({"n": [1.0, None, 2.0]}).to_parquet(path)
    err = refused("clean_missing_data", "--data", path, "--strategy", "constant", f"--value={value}",
                  "--cleaned", tmp_path / "c", "--report", tmp_path / "r")  # fmt: skip
    assert err.message == f"value: {value!r} is not a finite number, and column 'n' holds numbers"
    assert not (tmp_path / "c").exists() and not (tmp_path / "r").exists()


def test_clean_missing_data_refuses_a_fill_the_column_cannot_hold(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"n": pd.array([1, 2, None], dtype="Int64")}).to_parquet(path)
    err = refused(
        "clean_missing_data",
        "--data",
        path,
        "--strategy",
        "mean",
        "--cleaned",
        tmp_path / "c",
        "--report",
        tmp_path / "r",
    )
    assert err.message.startswith("columns: column 'n' (Int64) cannot hold the fill value 1.5")


def test_clean_missing_data_refuses_a_column_with_no_values(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"a": [1.0, 2.0], "empty": [None, None]}, dtype="float64").to_parquet(path)
    err = refused(
        "clean_missing_data",
        "--data",
        path,
        "--strategy",
        "median",
        "--cleaned",
        tmp_path / "c",
        "--report",
        tmp_path / "r",
    )
    assert err.message == "columns: column 'empty' has no values at all, so it has no median"


# --- normalize_data, apply_transformation ----------------------------------------------------


def test_normalize_then_apply_scales_the_test_set_with_the_training_fit(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    pd.DataFrame({"x": [0.0, 10.0], "y": [1, 3], "label": ["a", "b"], "target": [0, 1]}).to_csv(train, index=False)
    pd.DataFrame({"x": [5.0, 20.0], "y": [2, 2], "label": ["a", "a"], "target": [1, 1]}).to_csv(test, index=False)
    fit = tmp_path / "fit.json"
    call(
        "normalize_data",
        "--data",
        train,
        "--exclude",
        "target",
        "--method",
        "minmax",
        "--normalized",
        tmp_path / "n",
        "--transform",
        fit,
    )
    assert table(tmp_path / "n")[["x", "y", "target"]].values.tolist() == [[0.0, 0.0, 0], [1.0, 1.0, 1]]
    assert set(json.loads(fit.read_text())["columns"]) == {"x", "y"}  # text and excluded columns left as they are
    call("apply_transformation", "--data", test, "--transform", fit, "--transformed", tmp_path / "a")
    got = table(tmp_path / "a")
    assert got["x"].tolist() == [0.5, 2.0] and got["y"].tolist() == [0.5, 0.5] and got["label"].tolist() == ["a", "a"]
    call("normalize_data", "--data", train, "--columns", "x", "--normalized", tmp_path / "z", "--transform", fit)
    assert table(tmp_path / "z")["x"].tolist() == [-1.0, 1.0] and table(tmp_path / "z")["y"].tolist() == [1, 3]


def test_normalize_data_bad_inputs(people, tmp_path):
    def bad(*args):
        return refused(
            "normalize_data", "--data", people, *args, "--normalized", tmp_path / "n", "--transform", tmp_path / "t"
        )

    err = bad("--columns", "age,name")
    assert err.message.startswith("columns: column 'name' is not numeric (") and "cannot be scaled" in err.message
    assert "'name'" in err.hint
    err = bad("--columns", "aeg")
    assert err.message.startswith("columns: column 'aeg' is not in") and "'age'" in err.hint
    err = bad("--exclude", "scroe")
    assert err.message.startswith("exclude: column 'scroe'") and "'score'" in err.hint
    err = bad("--method", "z-score")
    assert err.message.startswith("method:") and "'zscore'" in err.hint
    err = bad("--exclude", "id,age,score")
    assert err.message.startswith("columns: no number column is left")
    assert not (tmp_path / "n").exists() and not (tmp_path / "t").exists()


def test_infinite_values_are_refused_for_scaling_and_counted_apart_in_a_summary(tmp_path):
    path = tmp_path / "inf.parquet"
    pd.DataFrame({"x": [1.0, float("inf"), 3.0, None]}).to_parquet(path)
    err = refused("normalize_data", "--data", path, "--normalized", tmp_path / "n", "--transform", tmp_path / "t")
    assert err.message == "columns: column 'x' holds an infinite value, so no scaling fits it"
    call("summarize_data", "--data", path, "--statistics", tmp_path / "s.json", "--plot", tmp_path / "p.png")
    x = json.loads((tmp_path / "s.json").read_text())["columns"]["x"]
    assert (x["count"], x["missing"], x["infinite"], x["mean"], x["max"]) == (3, 1, 1, 2.0, 3.0)


def test_apply_transformation_bad_inputs(people, tmp_path):
    fit = tmp_path / "fit.json"
    call("normalize_data", "--data", people, "--columns", "age", "--normalized", tmp_path / "n", "--transform", fit)
    renamed = tmp_path / "renamed.parquet"
    table(people).rename(columns={"age": "agee"}).to_parquet(renamed)
    err = refused("apply_transformation", "--data", renamed, "--transform", fit, "--transformed", tmp_path / "a")
    assert err.message.startswith("data: column 'age', which the transform scales, is not in") and "'agee'" in err.hint
    texty = tmp_path / "texty.parquet"
    table(people).assign(age="old").to_parquet(texty)
    err = refused("apply_transformation", "--data", texty, "--transform", fit, "--transformed", tmp_path / "a")
    assert err.message.startswith("data: column 'age' is not numeric")
    (tmp_path / "bad.json").write_text("{not json")
    err = refused(
        "apply_transformation", "--data", people, "--transform", tmp_path / "bad.json", "--transformed", tmp_path / "a"
    )
    assert err.message.startswith("transform:") and "not valid JSON" in err.message
    (tmp_path / "other.json").write_text('{"columns": {}}')
    err = refused(
        "apply_transformation",
        "--data",
        people,
        "--transform",
        tmp_path / "other.json",
        "--transformed",
        tmp_path / "a",
    )
    assert err.message.startswith("transform:") and "normalize_data" in err.hint
    # a transform of another format_version was applied as if it were version 1
    newer = {**json.loads(fit.read_text()), "format_version": 2}
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    err = refused(
        "apply_transformation",
        "--data",
        people,
        "--transform",
        tmp_path / "newer.json",
        "--transformed",
        tmp_path / "a",
    )
    assert err.message.startswith("transform:") and "format_version 2; this pipe reads 1" in err.message
    assert not (tmp_path / "a").exists()


# --- join_data -------------------------------------------------------------------------------


def test_join_data_joins_each_way_and_suffixes_shared_columns(people, tmp_path):
    right = tmp_path / "right.csv"
    pd.DataFrame({"id": [1, 2, 9], "score": [10, 20, 90], "team": ["x", "y", "z"]}).to_csv(right, index=False)
    out = tmp_path / "j"
    sizes = {}
    for how in ("inner", "left", "right", "outer"):
        call("join_data", "--left", people, "--right", right, "--keys", "id", "--how", how, "--joined", out)
        sizes[how] = len(table(out))
    assert sizes == {"inner": 2, "left": 5, "right": 3, "outer": 6}
    call("join_data", "--left", people, "--right", right, "--keys", "id", "--joined", out)
    assert list(table(out).columns) == ["id", "name", "age", "score", "score_right", "team"]
    other = tmp_path / "other.csv"
    pd.DataFrame({"person": [3], "team": ["q"]}).to_csv(other, index=False)
    call("join_data", "--left", people, "--right", other, "--keys", "id", "--right-keys", "person", "--joined", out)
    assert table(out)[["id", "person", "team"]].values.tolist() == [[3, 3, "q"]]


@pytest.mark.parametrize("left_extra, right_extra", [({"x_right": [5, 6]}, {}), ({}, {"x_right": [5, 6]})])
def test_join_data_refuses_a_suffix_that_makes_a_name_twice_naming_the_column(tmp_path, left_extra, right_extra):
    # pandas' words blamed `keys` ("cannot be joined on them: Passing 'suffixes' which cause
    # duplicate columns"), with no fix
    left, right = tmp_path / "l.parquet", tmp_path / "r.parquet"
    pd.DataFrame({"k": [1, 2], "x": [1, 2], **left_extra}).to_parquet(left)
    pd.DataFrame({"k": [1, 2], "x": [3, 4], **right_extra}).to_parquet(right)
    err = refused("join_data", "--left", left, "--right", right, "--keys", "k", "--joined", tmp_path / "j")
    assert err.message.startswith("right: its column 'x', which the left table has too, would be named 'x_right'")
    assert "rename" in err.hint and not (tmp_path / "j").exists()


def test_join_data_bad_inputs(people, tmp_path):
    right = tmp_path / "right.csv"
    pd.DataFrame({"ID": [1], "idx": ["one"], "team": ["x"]}).to_csv(right, index=False)

    def bad(*args):
        return refused("join_data", "--left", people, "--right", right, *args, "--joined", tmp_path / "j")

    err = bad("--keys", "idd")
    assert err.message == "keys: column 'idd' is not in the left table" and "'id'" in err.hint
    err = bad("--keys", "id")
    assert err.message == "keys: column 'id' is not in the right table" and "'idx'" in err.hint
    err = bad("--keys", "id", "--right-keys", "teem")
    assert err.message.startswith("right_keys: column 'teem'") and "'team'" in err.hint
    err = bad("--keys", "id", "--right-keys", "ID,team")
    assert err.message.startswith("right_keys: 2 column(s), but keys names 1")
    err = bad("--keys", "id", "--right-keys", "idx")
    assert err.message.startswith("right_keys: key 'id' holds int64 on the left")
    err = bad("--keys", "id", "--right-keys", "ID", "--how", "full")
    assert err.message.startswith("how: 'full'")
    assert not (tmp_path / "j").exists()


# --- filter_rows -----------------------------------------------------------------------------


def test_filter_rows_keeps_the_rows_where_the_expression_holds(people, tmp_path):
    out = tmp_path / "f"
    call("filter_rows", "--data", people, "--expression", 'age >= 30 and name != "bob"', "--filtered", out)
    assert table(out)["id"].tolist() == [1, 3]  # a missing age is not >= 30
    spaced = tmp_path / "spaced.parquet"
    pd.DataFrame({"petal length": [1.0, 5.0]}).to_parquet(spaced)
    call("filter_rows", "--data", spaced, "--expression", "`petal length` > 2", "--filtered", out)
    assert table(out)["petal length"].tolist() == [5.0]


@pytest.mark.parametrize(
    "expression, says",
    [
        ("agge > 3", "expression: 'agge' is not a column"),
        ("age >", "expression: 'age >' cannot be evaluated: SyntaxError"),
        ("age + 1", "gives values, not true or false"),
        ("age > @limit", "`@` (a Python variable) is not allowed"),
        ("  ", "expression: it is empty"),
        ("name.nope()", "cannot be evaluated"),
        ("__import__('os').system('true')", "names with `__` are not allowed"),
        ("age.__class__ == 1", "names with `__` are not allowed"),
    ],
)
def test_filter_rows_refuses_a_bad_expression_naming_it(people, tmp_path, expression, says):
    err = refused("filter_rows", "--data", people, "--expression", expression, "--filtered", tmp_path / "f")
    assert err.message.startswith("expression:") and says in err.message
    if "'agge'" in says:
        assert "'age'" in err.hint
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize(
    "call_it",
    [
        "age.to_csv({path!r}) is None",
        "(age.to_pickle)({path!r}) is None",  # parentheses around the method: still a call of it
        "age.agg('to_csv', {path!r}) is None",  # a method run by its name
        'name == "`" or age.to_json({path!r}) is None',  # a backtick in text hides nothing
        "age.to_csv({path!r})\n)",  # pandas runs each line apart: the first ran before the second failed
    ],
)
def test_filter_rows_refuses_a_method_that_writes_a_file_and_writes_none(people, tmp_path, call_it):
    # pandas' python engine calls any method of a column: an expression passed through from an
    # endpoint's caller could write any file the step's user may write
    target = tmp_path / "written.csv"
    err = refused(
        "filter_rows", "--data", people, "--expression", call_it.format(path=str(target)), "--filtered", tmp_path / "f"
    )
    assert err.message.startswith(f"expression: {call_it.format(path=str(target))!r} cannot be evaluated")
    assert not target.exists() and not (tmp_path / "f").exists()


def test_filter_rows_reads_an_at_sign_or_double_underscore_in_quotes_as_text(tmp_path):
    # `@name` and `__` are refused as names; in quoted text they are data (an e-mail address)
    path, out = tmp_path / "mail.parquet", tmp_path / "f"
    pd.DataFrame({"email": ["ann@x.org", "bob@y.org", "__init__"], "n": [1, 2, 3]}).to_parquet(path)
    call(
        "filter_rows",
        "--data",
        path,
        "--expression",
        'email.str.endswith("@x.org") | (email == "__init__")',
        "--filtered",
        out,
    )
    assert table(out)["n"].tolist() == [1, 3]
    for expression, says in [("n > @n", "`@` (a Python variable)"), ("n.__class__ == 1", "names with `__`")]:
        err = refused("filter_rows", "--data", path, "--expression", expression, "--filtered", tmp_path / "g")
        assert says in err.message


def test_filter_rows_still_calls_the_methods_of_a_filter(people, tmp_path):
    out = tmp_path / "f"
    expression = 'name.str.startswith("b") & age.isna() | id.isin([1, 5]) & score.between(0, 4)'
    call("filter_rows", "--data", people, "--expression", expression, "--filtered", out)
    assert table(out)["id"].tolist() == [1, 2]


# --- apply_sql -------------------------------------------------------------------------------


def test_apply_sql_queries_up_to_three_tables(people, tmp_path):
    t2 = tmp_path / "t2.csv"
    pd.DataFrame({"id": [1, 3], "team": ["x", "y"]}).to_csv(t2, index=False)
    t3 = tmp_path / "t3.jsonl"
    pd.DataFrame({"team": ["x", "y"], "city": ["Oslo", "Rome"]}).to_json(t3, orient="records", lines=True)
    out = tmp_path / "r"
    sql = "SELECT t1.id, name, city FROM t1 JOIN t2 ON t1.id = t2.id JOIN t3 ON t2.team = t3.team ORDER BY t1.id"
    call("apply_sql", "--t1", people, "--t2", t2, "--t3", t3, "--query", sql, "--result", out)
    got = table(out)
    assert got["id"].tolist() == [1, 3] and got["city"].tolist() == ["Oslo", "Rome"]
    assert got["name"].iloc[0] == "ann" and got["name"].isna().iloc[1]  # SQL NULL stays missing
    call(
        "apply_sql",
        "--t1",
        people,
        "--query",
        "SELECT name, COUNT(*) AS n FROM t1 WHERE name IS NOT NULL GROUP BY name ORDER BY name",
        "--result",
        out,
    )
    assert table(out).values.tolist() == [["ann", 1], ["bob", 2], ["dee", 1]]


@pytest.mark.parametrize(
    "sql, says, hint",
    [
        ("SELECT nmae FROM t1", "no such column: nmae", "'name'"),
        ("SELECT * FROM t2", "no such table: t2", "bind the input t2"),
        ("SELEKT * FROM t1", "syntax error", "SELECT"),
        ("SELECT 1; SELECT 2", "one statement", "SELECT"),
        ("DELETE FROM t1", "not authorized", "changes nothing"),
        ("CREATE TABLE t4 (a)", "not authorized", "changes nothing"),
        ("PRAGMA table_info(t1)", "not authorized", "changes nothing"),
        ("-- only a comment", "returns no table", "SELECT"),
        ("SELECT id, id FROM t1", "two columns named 'id'", "AS id_2"),
        ("", "it is empty", "SELECT"),
    ],
)
def test_apply_sql_refuses_a_bad_query_naming_it(people, tmp_path, sql, says, hint):
    err = refused("apply_sql", "--t1", people, "--query", sql, "--result", tmp_path / "r")
    assert err.message.startswith("query:") and says in err.message and hint in err.hint
    assert not (tmp_path / "r").exists()


def test_apply_sql_names_a_column_sqlite_cannot_take(tmp_path):
    nested = tmp_path / "nested.jsonl"
    nested.write_text('{"id": 1, "tags": ["a", "b"]}\n{"id": 2, "tags": []}\n')
    err = refused("apply_sql", "--t1", nested, "--query", "SELECT 1", "--result", tmp_path / "r")
    assert err.message.startswith("t1: the table cannot be loaded into SQLite: column 'tags':")
    folded = tmp_path / "folded.parquet"
    pd.DataFrame({"a": [1], "A": [2]}).to_parquet(folded)
    err = refused(
        "apply_sql", "--t1", people_path(tmp_path), "--t2", folded, "--query", "SELECT 1", "--result", tmp_path / "r"
    )
    assert err.message == "t2: the table cannot be loaded into SQLite: duplicate column name: A"
    # the hint spoke of flat columns and case, neither of which was the matter
    unnamed = tmp_path / "unnamed.parquet"
    pd.DataFrame({"a": [1], "": [2]}).to_parquet(unnamed)
    err = refused("apply_sql", "--t1", unnamed, "--query", "SELECT 1", "--result", tmp_path / "r")
    assert "a column has an empty name" in err.message and "give every column a name" in err.hint


def test_apply_sql_cannot_attach_a_database_file(people, tmp_path):
    """ATTACH would create a file wherever the query says: a query only reads its tables."""
    evil = tmp_path / "evil.db"
    err = refused("apply_sql", "--t1", people, "--query", f"ATTACH DATABASE '{evil}' AS e", "--result", tmp_path / "r")
    assert err.message == "query: SQLite refused it: not authorized" and not evil.exists()


# --- convert_format --------------------------------------------------------------------------


def test_convert_format_writes_times_as_iso_text_in_json_lines(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"when": pd.to_datetime(["2024-01-31 10:00"])}).to_parquet(path)
    call("convert_format", "--data", path, "--format", "jsonl", "--converted", tmp_path / "t.jsonl")
    assert json.loads((tmp_path / "t.jsonl").read_text())["when"].startswith("2024-01-31T10:00:00")


def test_convert_format_writes_each_format_and_reads_back_the_same_rows(people, tmp_path):
    for fmt, read in [
        ("csv", pd.read_csv),
        ("jsonl", lambda p: pd.read_json(p, lines=True)),
        ("parquet", pd.read_parquet),
    ]:
        out = tmp_path / f"out.{fmt}"
        call("convert_format", "--data", people, "--format", fmt, "--converted", out)
        assert read(out)["id"].tolist() == [1, 2, 3, 4, 5], fmt
    err = refused("convert_format", "--data", people, "--format", "xlsx", "--converted", tmp_path / "x")
    assert err.message.startswith("format: 'xlsx'") and "csv, parquet, jsonl" in err.hint
    err = refused("convert_format", "--data", people, "--format", "json", "--converted", tmp_path / "x")
    assert "'jsonl'" in err.hint


# --- summarize_data --------------------------------------------------------------------------


def test_summarize_data_draws_dollar_signs_in_names_and_values_as_they_are(tmp_path):
    # matplotlib reads the text between two `$` as TeX: a name or value that is no TeX there
    # ("cost_$ / rev_$") failed the plot with a traceback
    path = tmp_path / "prices.parquet"
    pd.DataFrame({"cost_$ / rev_$": [1.0, 2.0], "band": ["$x_$", r"$\frac{$"]}).to_parquet(path)
    stats, png = tmp_path / "s.json", tmp_path / "p.png"
    call("summarize_data", "--data", path, "--statistics", stats, "--plot", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(stats.read_text())["plotted_columns"] == ["cost_$ / rev_$", "band"]


def test_summarize_data_writes_statistics_and_a_png(people, tmp_path):
    stats_path, png = tmp_path / "s.json", tmp_path / "p.png"
    call("summarize_data", "--data", people, "--statistics", stats_path, "--plot", png)
    stats = json.loads(stats_path.read_text())  # strict JSON: no NaN
    assert stats["rows"] == 5 and stats["plotted_columns"] == ["id", "name", "age", "score"]
    age = stats["columns"]["age"]
    assert (age["count"], age["missing"], age["mean"], age["min"], age["max"]) == (4, 1, 35.0, 20.0, 50.0)
    assert stats["columns"]["name"]["top"][0] == {"value": "bob", "count": 2}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    call("summarize_data", "--data", people, "--columns", "score", "--statistics", stats_path, "--plot", png)
    assert list(json.loads(stats_path.read_text())["columns"]) == ["score"]
    err = refused(
        "summarize_data",
        "--data",
        people,
        "--columns",
        "scores",
        "--statistics",
        tmp_path / "x",
        "--plot",
        tmp_path / "y",
    )
    assert err.message.startswith("columns: column 'scores'") and "'score'" in err.hint


# --- in a real process -----------------------------------------------------------------------


def test_errors_in_a_real_process_are_located_and_exit_2(people, tmp_path, monkeypatch):
    """Each shape of failure as a step sees it: a bad column, a bad expression, an unreadable
    input, a bad choice; named with the step (from PIPE_STEP) and the component; no output."""
    monkeypatch.setenv("PIPE_STEP", "pick")
    out = tmp_path / "out"
    cases = [
        (
            ("select_columns", "--data", people, "--columns", "agee", "--selected", out),
            "columns: column 'agee'",
            "did you mean 'age'?",
        ),
        (
            ("filter_rows", "--data", people, "--expression", "age >", "--filtered", out),
            "expression: 'age >'",
            "pandas query",
        ),
        (
            (
                "normalize_data",
                "--data",
                people,
                "--columns",
                "name",
                "--normalized",
                out,
                "--transform",
                tmp_path / "t",
            ),
            "columns: column 'name' is not numeric",
            "leave 'name' out",
        ),
        (("import_data", "--source", tmp_path / "none.csv", "--data", out), "source:", None),
        (("sample_data", "--name", "wines", "--data", out), "name: 'wines'", "did you mean 'wine'?"),
    ]
    for args, says, hint in cases:
        p = run(*args)
        assert p.returncode == 2, (args, p.stderr)
        component = args[0]
        assert p.stderr.startswith(f"error: step 'pick' (std/{component}@1): {says}"), p.stderr
        if hint:
            assert hint in p.stderr.split("\n  hint: ", 1)[1], p.stderr
        assert "Traceback" not in p.stderr and not out.exists()
    p = run("join_data", "--left", people)  # a missing flag: argparse's usage error, also exit 2
    assert p.returncode == 2 and "the following arguments are required" in p.stderr


def test_filter_rows_takes_a_column_named_with_a_double_underscore(tmp_path):
    # scikit-learn's ColumnTransformer names its columns `num__age`: a column, no internal
    path, out = tmp_path / "t.parquet", tmp_path / "f"
    pd.DataFrame({"num__age": [1, 5], "cat__x y": [0, 1], "__class__": [1, 2]}).to_parquet(path)
    call("filter_rows", "--data", path, "--expression", "num__age > 2", "--filtered", out)
    assert table(out)["num__age"].tolist() == [5]
    call("filter_rows", "--data", path, "--expression", "`cat__x y` == 0", "--filtered", out)
    assert table(out)["num__age"].tolist() == [1]
    # a name of Python's own stays refused, even where a column is so named
    for expression in ("__class__ > 1", "num__age.__class__ == 1", "__import__('os') == 1"):
        err = refused("filter_rows", "--data", path, "--expression", expression, "--filtered", tmp_path / "g")
        assert "names with `__`" in err.message, expression


def test_filter_rows_calls_the_text_and_date_methods_filters_use(tmp_path):
    path, out = tmp_path / "t.parquet", tmp_path / "f"
    frame = pd.DataFrame({"sku": ["EU-1", "US-2"], "d": pd.to_datetime(["2020-01-05", "2020-02-05"]), "n": [1, 2]})
    frame.to_parquet(path)
    for expression in (
        'sku.str.removeprefix("EU-") == "1"',  # was: refused, not "one of the methods a filter may call"
        'sku.str.removesuffix("-1") == "EU"',
        'sku.str.rsplit("-").str.get(0) == "EU"',
        'd.dt.to_period("M").dt.month == 1',
    ):
        call("filter_rows", "--data", path, "--expression", expression, "--filtered", out)
        assert table(out)["n"].tolist() == [1], expression
