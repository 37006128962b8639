"""Real-time deployments of a model (`pipe deploy`, POST /v1/online/NAME/score): a model
trained by a step, versioned as an artifact, deployed, and scored over real HTTP by a real
`pipe serve`; its predictions equal batch scoring (`score_frame`) of the same rows."""

from __future__ import annotations

import json

import pytest
from serve_site import Server, require_serve_deps, token
from workspace_repo import Repo

pytest.importorskip("sklearn")
pytest.importorskip("pandas")

TRAIN = """\
import json, sys
import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge
from stdlib_components._lib.models import ModelInfo, save_model

kind, data, c, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
frame = pd.read_csv(data)
if kind == "classifier":
    features, label = ["sepal_length", "sepal_width", "petal_length", "petal_width"], "species"
    est = LogisticRegression(C=c, max_iter=500).fit(frame[features], frame[label])
    info = ModelInfo("logistic_regression", "classification", label, features, classes=list(est.classes_))
else:
    features, label = ["sepal_length", "sepal_width", "petal_width"], "petal_length"
    est = Ridge(alpha=c).fit(frame[features], frame[label])
    info = ModelInfo("ridge", "regression", label, features)
save_model(out, est, info)
"""

PIPEFILE = """\
name: iris
params:
  c: 1.0
assets:
  data: {path: data/iris.csv}
steps:
  train:
    command: python train.py classifier ${{inputs.data}} ${{params.c}} ${{outputs.model}}
    inputs: {data: "${{assets.data}}"}
    outputs:
      model: {path: build/model, name: model}
    code: [train.py]
  train_reg:
    command: python train.py regressor ${{inputs.data}} 1.0 ${{outputs.model}}
    inputs: {data: "${{assets.data}}"}
    outputs:
      model: {path: build/reg, name: reg}
    code: [train.py]
  notes:
    command: echo notes > ${{outputs.o}}
    outputs:
      o: {path: build/notes.txt, name: notes}
  not_a_model:
    command: mkdir -p ${{outputs.o}} && echo '{}' > ${{outputs.o}}/model.json && echo x > ${{outputs.o}}/model.pkl
    outputs:
      o: {path: build/fake, name: fake}
"""

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _iris_csv() -> str:
    from sklearn.datasets import load_iris

    bunch = load_iris(as_frame=True)
    frame = bunch.frame.rename(
        columns={
            "sepal length (cm)": "sepal_length",
            "sepal width (cm)": "sepal_width",
            "petal length (cm)": "petal_length",
            "petal width (cm)": "petal_width",
        }
    )
    frame["species"] = [bunch.target_names[t] for t in frame.pop("target")]
    return frame.to_csv(index=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """model:1 deployed as 'iris' version 1, model:2 as version 2 (not the default), reg:1
    as 'petals'; tokens of each kind; a server with a small body limit."""
    require_serve_deps()
    root = tmp_path_factory.mktemp("online") / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("Pipefile", PIPEFILE, dedent=False)
    repo.write("train.py", TRAIN, dedent=False)
    repo.write("data/iris.csv", _iris_csv(), dedent=False)
    repo.pipe("run", check=True)
    repo.pipe("run", "-p", "c=0.05", "train", check=True)  # new content: model:2
    assert repo.pipe("deploy", "iris", "--model", "model:1", check=True)
    assert repo.pipe("deploy", "iris", "--model", "model:2", check=True)
    assert repo.pipe("deploy", "petals", "--model", "reg", check=True)
    toks = {
        "admin": token(repo, "--scope", "admin"),
        "read": token(repo, "--scope", "read"),
        "iris": token(repo, "--scope", "invoke:iris"),
        "other": token(repo, "--scope", "invoke:petals"),
    }
    server = Server(root, "--workers", "1", "--max-body", "16KiB")
    yield repo, server, toks
    server.stop()


def _rows(repo: Repo, n: int, columns=FEATURES) -> list:
    import pandas as pd

    frame = pd.read_csv(repo.root / "data" / "iris.csv")
    picked = frame.iloc[list(range(0, 150, 150 // n))[:n]]
    return [{c: float(r[c]) for c in columns} for _, r in picked.iterrows()]


def _batch(repo: Repo, ref: str, rows: list, tmp):
    """What std/score_model's function writes for these rows with artifact version `ref`."""
    import pandas as pd

    from stdlib_components._lib.models import load_model, score_frame

    dest = tmp / ref.replace(":", "-")
    if not dest.exists():
        repo.pipe("artifacts", "get", ref, "-o", str(dest), check=True)
    return score_frame(load_model(dest), pd.DataFrame(rows))


def test_online_predictions_equal_batch_scoring(site, tmp_path):
    repo, server, toks = site
    c = server.client(toks["iris"])
    rows = _rows(repo, 12)
    r = c.post("/v1/online/iris/score", json={"rows": rows})
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["name"], got["version"], got["model"]) == ("iris", 1, "model:1")
    want = _batch(repo, "model:1", rows, tmp_path)
    assert got["predictions"] == want["prediction"].tolist()
    assert len(set(got["predictions"])) == 3  # the rows reach every class: a real comparison
    classes = ["setosa", "versicolor", "virginica"]
    assert got["probabilities"] == [{k: want[f"probability_{k}"].iloc[i] for k in classes} for i in range(len(rows))]

    # A regressor: predictions, no probabilities; one row as well as many.
    reg_rows = _rows(repo, 5, ["sepal_length", "sepal_width", "petal_width"])
    r = server.client(toks["other"]).post("/v1/online/petals/score", json={"rows": reg_rows[:1]})
    assert r.status_code == 200, r.text
    assert "probabilities" not in r.json()
    assert r.json()["predictions"] == _batch(repo, "reg:1", reg_rows[:1], tmp_path)["prediction"].tolist()


def test_a_second_version_does_not_move_the_default_until_asked(site, tmp_path):
    repo, server, toks = site
    listed = repo.pipe("deployments", "--json", check=True).json["deployments"]
    iris = [(d["version"], d["model"], d["default"]) for d in listed if d["name"] == "iris"]
    assert iris == [(1, "model:1", True), (2, "model:2", False)]
    assert all(len(d["digest"]) >= 16 and d["created"] for d in listed)
    rows = _rows(repo, 10)
    c = server.client(toks["iris"])
    assert c.post("/v1/online/iris/score", json={"rows": rows}).json()["version"] == 1
    v2 = c.post("/v1/online/iris/deployments/2/score", json={"rows": rows})
    assert v2.status_code == 200, v2.text
    assert v2.json()["version"] == 2
    assert v2.json()["predictions"] == _batch(repo, "model:2", rows, tmp_path)["prediction"].tolist()
    # model:1 and model:2 differ, so which one answers is seen in the probabilities
    v1 = c.post("/v1/online/iris/deployments/1/score", json={"rows": rows}).json()
    assert v1["probabilities"] != v2.json()["probabilities"]

    # Deploying model:2 again adds nothing; asked to, the default moves (on the running server too).
    again = repo.pipe("deploy", "iris", "--model", "model:2", "--json", check=True).json
    assert (again["version"], again["new"], again["default_version"]) == (2, False, 1)
    repo.pipe("deployments", "set-default", "iris", "2", check=True)
    try:
        assert c.post("/v1/online/iris/score", json={"rows": rows}).json()["version"] == 2
        shown = repo.pipe("deployments", "show", "iris", "--json", check=True).json
        assert shown["default_version"] == 2
    finally:
        repo.pipe("deployments", "set-default", "iris", "1", check=True)
    assert c.post("/v1/online/iris/score", json={"rows": rows}).json()["version"] == 1


def test_the_deployment_pins_the_model_bytes(site):
    """A newer artifact version changes nothing served: version 1 is model:1's digest."""
    repo, _server, _toks = site
    listed = {(d["name"], d["version"]): d for d in repo.pipe("deployments", "--json", check=True).json["deployments"]}
    versions = {
        v["version"]: v["digest"]
        for v in repo.pipe("artifacts", "show", "model", "--json", check=True).json["versions"]
    }
    assert listed[("iris", 1)]["digest"] == versions[1] != versions[2] == listed[("iris", 2)]["digest"]


def test_tokens_and_scopes(site):
    repo, server, toks = site
    rows = _rows(repo, 1)
    r = server.client().post("/v1/online/iris/score", json={"rows": rows})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = server.client("pipe_0000_nope").post("/v1/online/iris/score", json={"rows": rows})
    assert r.status_code == 401
    for who in ("other", "read"):  # another name's invoke scope; read may not score
        r = server.client(toks[who]).post("/v1/online/iris/score", json={"rows": rows})
        assert r.status_code == 403, r.text
        assert "invoke:iris" in r.json()["error"]["hint"]
    assert server.client(toks["admin"]).post("/v1/online/iris/score", json={"rows": rows}).status_code == 200
    # What a token lists is what it may score.
    assert [o["name"] for o in server.client(toks["iris"]).get("/v1/online").json()["online"]] == ["iris"]
    assert server.client(toks["other"]).get("/v1/online/iris").status_code == 403
    shown = server.client(toks["iris"]).get("/v1/online/iris").json()
    assert shown["feature_columns"] == FEATURES and shown["default_version"] == 1


@pytest.mark.parametrize(
    "change, status, message, field",
    [
        (lambda r: r.pop("petal_width"), 422, "missing column(s) 'petal_width'", "rows[0]"),
        (lambda r: r.update(colour=1.0), 422, "extra column(s) 'colour'", "rows[0]"),
        (lambda r: r.update(petal_widht=r.pop("petal_width")), 422, "extra column(s) 'petal_widht'", "rows[0]"),
        (lambda r: r.update(sepal_width="abc"), 422, "column 'sepal_width' takes numbers", "rows[0].sepal_width"),
        (lambda r: r.update(sepal_width="5"), 422, "column 'sepal_width' takes numbers", "rows[0].sepal_width"),
        (lambda r: r.update(sepal_width=True), 422, "true/false is not a value", "rows[0].sepal_width"),
        (lambda r: r.update(sepal_width=[1.0]), 422, "a list is not a value", "rows[0].sepal_width"),
        (lambda r: r.update(sepal_width={"a": 1}), 422, "an object is not a value", "rows[0].sepal_width"),
        (lambda r: r.update(sepal_width=2**70), 422, "does not fit in 64 bits", "rows[0].sepal_width"),
        (lambda r: r.update(sepal_width=None), 422, "takes no missing values (null)", "rows"),
    ],
)
def test_rows_that_do_not_fit_the_model_are_refused_by_name(site, change, status, message, field):
    repo, server, toks = site
    rows = _rows(repo, 2)
    change(rows[0])
    r = server.client(toks["iris"]).post("/v1/online/iris/score", json={"rows": rows})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert message in err["message"] and err["field"] == field, err
    assert err.get("hint")


def test_a_misspelt_column_gets_a_did_you_mean(site):
    repo, server, toks = site
    rows = _rows(repo, 1)
    rows[0]["petal_widht"] = rows[0].pop("petal_width")
    err = server.client(toks["iris"]).post("/v1/online/iris/score", json={"rows": rows}).json()["error"]
    assert "missing column(s) 'petal_width'" in err["message"] and "petal_width" in err["hint"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"rows": []}, "rows"),
        ({}, "rows"),
        ({"rows": [1]}, "rows.0"),
        ({"rows": [{}], "extra": 1}, "extra"),
        ({"rows": {"a": 1}}, "rows"),
    ],
)
def test_bodies_of_the_wrong_shape_are_422(site, body, field):
    _repo, server, toks = site
    r = server.client(toks["iris"]).post("/v1/online/iris/score", json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["error"]["field"], r.json()


def test_unknown_names_and_versions_are_404(site):
    repo, server, toks = site
    rows = _rows(repo, 1)
    c = server.client(toks["admin"])
    r = c.post("/v1/online/irsi/score", json={"rows": rows})
    assert r.status_code == 404 and "no online deployment 'irsi'" in r.json()["error"]["message"]
    assert "iris" in r.json()["error"]["hint"]
    r = c.post("/v1/online/iris/deployments/9/score", json={"rows": rows})
    assert r.status_code == 404 and "has no version 9" in r.json()["error"]["message"]
    assert c.post("/v1/online/iris/deployments/0/score", json={"rows": rows}).status_code == 422
    assert c.post(f"/v1/online/iris/deployments/{2**60}/score", json={"rows": rows}).status_code == 422


def test_host_origin_and_body_size_are_checked(site):
    repo, server, toks = site
    rows = _rows(repo, 1)
    r = server.client(toks["iris"], Host="evil.example").post("/v1/online/iris/score", json={"rows": rows})
    assert r.status_code == 403
    r = server.client(toks["iris"], Origin="http://evil.example").post("/v1/online/iris/score", json={"rows": rows})
    assert r.status_code == 403
    big = {"rows": rows * 400}  # past --max-body 16KiB
    assert len(json.dumps(big)) > 16 * 1024
    assert server.client(toks["iris"]).post("/v1/online/iris/score", json=big).status_code == 413


def test_disabling_a_version_refuses_it_and_moves_the_default(site):
    repo, server, toks = site
    rows = _rows(repo, 1)
    repo.pipe("deploy", "spare", "--model", "model:1", check=True)
    repo.pipe("deploy", "spare", "--model", "model:2", check=True)
    tok = token(repo, "--scope", "invoke:spare")
    c = server.client(tok)
    assert c.post("/v1/online/spare/score", json={"rows": rows}).json()["version"] == 1
    r = repo.pipe("deployments", "disable", "spare", "1", check=True)
    assert "default version: 2" in r.out
    assert c.post("/v1/online/spare/score", json={"rows": rows}).json()["version"] == 2
    r = c.post("/v1/online/spare/deployments/1/score", json={"rows": rows})
    assert r.status_code == 409 and "disabled" in r.json()["error"]["message"]
    r = repo.pipe("deployments", "set-default", "spare", "1")
    assert r.code == 2 and "disabled" in r.err
    # --set-default on deploy moves the default at once (here to a model of other columns).
    r = repo.pipe("deploy", "spare", "--model", "reg", "--set-default", "--json", check=True).json
    assert (r["version"], r["default_version"], r["default"]) == (3, 3, True)
    r = c.post("/v1/online/spare/score", json={"rows": rows})
    assert r.status_code == 422 and "extra column(s) 'petal_length'" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "ref, message",
    [
        ("notes", "notes:1 is a file, not a model folder"),
        ("fake", "fake:1: model.json is not a pipefile-sklearn-model description"),
        ("modle", "no artifact 'modle'"),
        ("model:7", "artifact 'model' has no version 7"),
        ("model:x", "the version must be a number"),
    ],
)
def test_deploy_refuses_what_is_not_a_model_folder(site, ref, message):
    repo, _server, _toks = site
    r = repo.pipe("deploy", "bad", "--model", ref)
    assert r.code == 2, str(r)
    assert message in r.err, r.err
    assert "hint" in r.err.lower() or "\n" in r.err.strip()
    assert "bad" not in [d["name"] for d in repo.pipe("deployments", "--json", check=True).json["deployments"]]


def test_deploy_refuses_a_bad_name(site):
    repo, _server, _toks = site
    r = repo.pipe("deploy", "no/slash", "--model", "model:1")
    assert r.code == 2 and "not a valid deployment name" in r.err, str(r)


def test_gc_keeps_a_deployed_model(site):
    """The deployment pins the model's content: `pipe gc` keeps it, whatever else it drops."""
    from pipefile.digest import PathDigest
    from pipefile.workspace import Workspace

    repo, _server, _toks = site
    assert repo.pipe("gc", "--keep-last", "0").code == 0
    listed = repo.pipe("deployments", "--json", check=True).json["deployments"]
    ws = Workspace(str(repo.root))
    try:
        for d in listed:
            assert ws.store.complete(PathDigest("tree", d["digest"], d["size"])), d
    finally:
        ws.close()
    assert repo.pipe("verify", "--json").code == 0


def test_a_model_is_loaded_once_per_process_and_kept(site):
    """The model processes of serve/scorer.py, driven without HTTP: one process (one load)
    per digest, even when many threads ask for it at once, and the same one for every
    version that pins those bytes."""
    import concurrent.futures as cf

    from pipefile.jobdb.online import OnlineStore
    from pipefile.serve.home import Home
    from pipefile.serve.scorer import ScorerPool

    repo, _server, _toks = site
    pool = ScorerPool()
    home = Home(str(repo.root))
    store = OnlineStore(home.jobs)
    v1 = store.deployment("iris", 1)
    rows = _rows(repo, 2)
    try:
        with cf.ThreadPoolExecutor(8) as threads:
            got = list(threads.map(lambda _: pool.score(Home(str(repo.root)), v1, rows), range(16)))
        assert all(g == got[0] for g in got)
        (pid,) = pool.pids().values()
        spare = [d for d in store.deployments() if d.digest == v1.digest and d.name != "iris"]
        for d in spare:  # another name serving the same bytes shares the loaded model
            pool.score(home, d, rows)
        assert list(pool.pids().values()) == [pid]
        pool.score(home, store.deployment("iris", 2), rows)
        assert len(pool.pids()) == 2 and pool.pids()[v1.digest] == pid
    finally:
        pool.close()
    assert pool.pids() == {}


MAKE_FOLDERS = """\
import json, os, pickle, sys
sys.path.insert(0, os.path.abspath("vanishing"))
from thing import Thing
from stdlib_components._lib.models import ModelInfo, save_model

save_model("folders/unloadable", Thing(), ModelInfo("thing", "regression", "y", ["a"]))
os.makedirs("folders/no_pkl")
with open("folders/no_pkl/model.json", "w") as f:
    json.dump(dict(format="pipefile-sklearn-model", format_version=1, estimator="x", task="regression",
                   label="y", feature_columns=["a"]), f)
os.makedirs("folders/bad_json")
open("folders/bad_json/model.json", "w").write("{not json")
open("folders/bad_json/model.pkl", "wb").write(b"x")
save_model("folders/clustering", Thing(), ModelInfo("thing", "clustering", "y", ["a"]))
save_model("folders/no_columns", Thing(), ModelInfo("thing", "regression", "y", []))
"""


def test_deploy_checks_the_model_folder_and_a_model_that_does_not_load_is_503(tmp_path):
    require_serve_deps()
    root = tmp_path / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("Pipefile", "steps: {}\n")
    # A model whose class the server cannot import: it was pickled from a module that is gone.
    repo.write("vanishing/thing.py", "class Thing:\n    def predict(self, x):\n        return [0] * len(x)\n")
    repo.write("make.py", MAKE_FOLDERS, dedent=False)
    import subprocess
    import sys

    subprocess.run([sys.executable, "make.py"], cwd=root, check=True)
    for name in ("unloadable", "no_pkl", "bad_json", "clustering", "no_columns"):
        repo.pipe("asset", "add", f"folders/{name}", "--name", name, check=True)
    for name, message in [
        ("no_pkl", "no_pkl:1 is not a model folder: it has no model.pkl"),
        ("bad_json", "bad_json:1: model.json is not valid JSON"),
        ("clustering", "task is 'clustering', not 'classification' or 'regression'"),
        ("no_columns", "feature_columns is not a list of column names"),
    ]:
        r = repo.pipe("deploy", name, "--model", name)
        assert r.code == 2 and message in r.err, str(r)
    assert repo.pipe("deployments", "--json", check=True).json == {"deployments": []}

    repo.pipe("deploy", "broken", "--model", "unloadable", check=True)
    tok = token(repo, "--scope", "invoke:broken")
    server = Server(root)
    try:
        r = server.client(tok).post("/v1/online/broken/score", json={"rows": [{"a": 1.0}]})
        assert r.status_code == 503, r.text
        err = r.json()["error"]
        assert "online deployment 'broken' version 1 (unloadable:1) does not load" in err["message"]
        assert "ModuleNotFoundError" in err["message"] and err["hint"]
    finally:
        server.stop()


def test_the_latency_benchmark_runs(tmp_path, capsys):
    """benchmarks/online.py end to end at a few requests; no timing is asserted (docs/benchmarks.md has them)."""
    require_serve_deps()
    from benchmarks import online as bench

    assert bench.main(["--n", "20", "--warmup", "2", "--workdir", str(tmp_path), "--json"]) == 0
    out = capsys.readouterr().out
    res = json.loads(out.strip().splitlines()[-1])
    assert res["n"] == 20 and 0 < res["p50_ms"] <= res["p99_ms"] <= res["max_ms"]
    assert res["prediction"] == 2  # the row is a virginica
    assert "| requests | p50 |" in out


def test_non_finite_output_is_answered_as_null():
    """JSON has no NaN: a model's NaN prediction comes back as null, not as a server error
    (serve/online.py driven without HTTP)."""
    import numpy as np
    import pandas as pd
    from sklearn.dummy import DummyRegressor

    from pipefile.jobdb.online import OnlineDeployment
    from pipefile.serve.online import Loaded, check_rows, predict
    from stdlib_components._lib.models import Model, ModelInfo

    est = DummyRegressor().fit(pd.DataFrame({"a": [1.0, 2.0]}), [1.0, 2.0])
    est.constant_ = np.array([[np.nan]])
    loaded = Loaded(Model(ModelInfo("dummy", "regression", "y", ["a"]), est))
    dep = OnlineDeployment("d", 1, "m", 1, "tree", "0" * 32, 1, {}, "", False, 0.0)
    rows = [{"a": 1.0}, {"a": 2}]
    check_rows(rows, loaded.columns, loaded.numeric)
    assert predict(loaded, rows, dep)["predictions"] == [None, None]


STD_PIPEFILE = """\
name: designer-iris
steps:
  data:
    component: std/sample_data@1
    inputs: {name: iris}
    outputs: {data: build/iris.parquet}
  split:
    component: std/split_data@1
    inputs: {data: "${{steps.data.outputs.data}}", fraction: 0.7, seed: 3}
    outputs: {train: build/train.parquet, test: build/test.parquet}
  train:
    component: std/train_model@1
    inputs: {data: "${{steps.split.outputs.train}}", label: target, algorithm: logistic_regression, seed: 3}
    outputs:
      model: {path: build/model, name: iris-model}
  score:
    component: std/score_model@1
    inputs: {model: "${{steps.train.outputs.model}}", data: "${{steps.split.outputs.test}}"}
    outputs: {scored: build/scored.parquet}
"""


def test_online_predictions_equal_what_std_score_model_wrote(tmp_path):
    """The designer's flow: std/train_model's model deployed; its online predictions for the
    test rows are what std/score_model wrote for them in the batch pipeline."""
    require_serve_deps()
    import pandas as pd

    root = tmp_path / "ws"
    root.mkdir()
    repo = Repo(root)
    repo.write("Pipefile", STD_PIPEFILE, dedent=False)
    repo.pipe("run", check=True, timeout=600)
    repo.pipe("deploy", "iris", "--model", "iris-model", check=True)
    scored = pd.read_parquet(root / "build" / "scored.parquet")
    features = [c for c in scored.columns if c != "target" and c != "prediction" and not c.startswith("probability_")]
    rows = [
        {c: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for c, v in r.items()}
        for r in scored[features].to_dict("records")
    ]
    tok = token(repo, "--scope", "invoke:iris")
    server = Server(root)
    try:
        r = server.client(tok).post("/v1/online/iris/score", json={"rows": rows})
        assert r.status_code == 200, r.text
        got = r.json()
    finally:
        server.stop()
    assert got["predictions"] == scored["prediction"].tolist()
    classes = [c.removeprefix("probability_") for c in scored.columns if c.startswith("probability_")]
    assert classes and got["probabilities"] == [
        {k: scored[f"probability_{k}"].iloc[i] for k in classes} for i in range(len(rows))
    ]


def test_a_pipeline_model_takes_text_and_its_refusals_are_422():
    """A scikit-learn pipeline with its own encoder takes strings (a bare estimator does not);
    what it refuses comes back as a 422 in score_frame's words (serve/online.py without HTTP)."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from pipefile.jobdb.online import OnlineDeployment
    from pipefile.serve.online import Loaded, check_rows, predict
    from pipefile.serve.refusals import Invalid
    from stdlib_components._lib.models import Model, ModelInfo, score_frame

    train = pd.DataFrame({"colour": ["red", "blue", "red", "green"] * 5, "size": [1.0, 2.0, 3.0, 4.0] * 5})
    label = [1, 0, 1, 0] * 5
    est = make_pipeline(
        ColumnTransformer([("c", OneHotEncoder(), ["colour"])], remainder="passthrough"), LogisticRegression()
    ).fit(train, label)
    model = Model(ModelInfo("pipeline", "classification", "y", ["colour", "size"], classes=[0, 1]), est)
    loaded = Loaded(model)
    assert not loaded.numeric
    dep = OnlineDeployment("p", 1, "m", 1, "tree", "0" * 32, 1, {}, "", False, 0.0)
    rows = [{"colour": "green", "size": 2.5}, {"colour": "red", "size": 1}]
    check_rows(rows, loaded.columns, loaded.numeric)
    got = predict(loaded, rows, dep)
    want = score_frame(model, pd.DataFrame(rows))
    assert got["predictions"] == want["prediction"].tolist()
    assert got["probabilities"] == [{"0": want["probability_0"][i], "1": want["probability_1"][i]} for i in range(2)]

    with pytest.raises(Invalid) as refused:
        predict(loaded, [{"colour": "purple", "size": 1.0}], dep)
    assert refused.value.message.startswith("rows: the model cannot score these rows") and refused.value.field == "rows"
    assert "purple" in refused.value.message or "unknown" in refused.value.message.lower()
