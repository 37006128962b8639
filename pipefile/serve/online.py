"""Scoring rows with a real-time deployment (`pipe deploy`), without HTTP: what
`POST /v1/online/NAME/score` does (serve/http/online.py only calls it).

The rows are checked against the model's feature columns (missing and extra columns are
named), made into a table and given to `score_frame` of stdlib_components/_lib/models.py,
the function std/score_model calls too: an online prediction is the batch one.

The model is loaded and scored in a process of its own (serve/scorer.py), never in the
server's: its code may hang, and only a process can be stopped. What that process runs is
here (`load_folder`, `check_and_predict`); the server lays the model out for it
(`materialize`).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from typing import Any, Optional

from ..digest import PathDigest
from ..errors import PipefileError, did_you_mean
from ..jobdb.online import OnlineDeployment, OnlineStore
from ..jobdb.tokens import Token
from .home import Home
from .refusals import CannotServe, Conflict, Forbidden, Invalid, NotFound

MAX_INT = 2**63  # integers past 64 bits are refused, as for batch endpoints' params
_SHOWN = 10  # column names an error lists at most
SCRATCH_PREFIX = ".online-"  # a model being loaded, under .pipe/ (a restarted server removes any left)


class Loaded:
    """A model in memory, and what checking rows against it needs."""

    def __init__(self, model):
        self.model = model
        self.columns = list(model.info.feature_columns)
        est = model.estimator
        # A bare estimator casts every feature to a float, so text in a feature ("5", "abc") is a
        # client's mistake to refuse by name; a pipeline (its own encoders) takes what it declares.
        self.numeric = not (hasattr(est, "steps") or hasattr(est, "transformers"))
        self.classifier = model.info.task == "classification" and hasattr(est, "predict_proba")


def materialize(home: Home, dep: OnlineDeployment) -> str:
    """A scratch folder under .pipe/ holding the model folder as `model/` (the caller removes
    it): what a scorer process loads (serve/scorer.py)."""
    content = PathDigest(dep.kind, dep.digest, dep.size)
    if not home.store.complete(content):
        raise CannotServe(
            f"the model of online deployment '{dep.name}' version {dep.version} ({dep.model_ref}, "
            f"{dep.digest[:12]}) is no longer complete in the store",
            f"run the step that made {dep.model_ref} again, then `pipe deploy {dep.name} --model ...`",
        )
    scratch = tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=home.dir)
    try:
        home.store.materialize(content, os.path.join(scratch, "model"), scratch)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return scratch


def load_folder(scratch: str, dep) -> Loaded:
    """The model laid out by `materialize`, loaded (in a scorer process: its code runs)."""
    try:
        import pandas  # noqa: F401  (score_frame needs it: say so now, not mid-request)

        from stdlib_components._lib.models import load_model
    except ImportError as e:
        raise CannotServe(
            f"online deployment '{dep.name}' cannot be served: {e}",
            "install what models need on the server: pip install 'pipefile[std]'",
        ) from None
    folder = os.path.join(scratch, "model")
    try:
        return Loaded(load_model(folder))
    except Exception as e:  # unpickling runs the model's code: any error is the model's
        # (its message may name the scratch copy, gone by now: name the artifact instead)
        said = str(e).replace(folder + os.sep, f"{dep.model_ref}/").replace(scratch, dep.model_ref)
        raise CannotServe(
            f"the model of online deployment '{dep.name}' version {dep.version} ({dep.model_ref}) "
            f"does not load: {type(e).__name__}: {said}",
            "load it where it was trained, with the same library versions (its model.json names them)",
        ) from None


def _name(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 80 else text[:77] + "..."


def _names(keys: list) -> str:
    shown = ", ".join(_name(k) for k in keys[:_SHOWN])
    return shown + (f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else "")


def check_rows(rows: Any, columns: list, numeric: bool) -> None:
    """Refuse rows that do not fit the model's feature columns, naming the row and column."""
    if not isinstance(rows, list) or not rows:
        raise Invalid("rows: no rows to score", 'send {"rows": [{column: value, ...}, ...]}', "rows")
    want = set(columns)
    hint = f"the model takes the columns: {', '.join(columns)}"
    for i, row in enumerate(rows):
        where = f"rows[{i}]"
        if not isinstance(row, dict):
            raise Invalid(f"{where}: a row is an object of column: value", hint, where)
        if len(row) != len(columns) or not want.issuperset(row):
            missing = [c for c in columns if c not in row]
            extra = [k for k in row if k not in want]
            said = []
            if missing:
                said.append(f"missing column(s) {_names(missing)}")
            if extra:
                said.append(f"extra column(s) {_names(extra)}")
            close = did_you_mean(str(extra[0]), missing, "column") if len(extra) == 1 and missing else None
            raise Invalid(f"{where}: {'; '.join(said)}", close or hint, where)
        for c in columns:
            _check_value(row[c], f"{where}.{c}", c, numeric)


def _check_value(value: Any, where: str, column: str, numeric: bool) -> None:
    if value is None:
        return  # a missing value: the model says whether it takes one
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        kind = "true/false" if isinstance(value, bool) else "an object" if isinstance(value, dict) else "a list"
        raise Invalid(
            f"{where}: {kind} is not a value of column {_name(column)}",
            "a value is a number" + ("" if numeric else ", a string") + " or null",
            where,
        )
    if isinstance(value, int) and not -MAX_INT <= value < MAX_INT:
        raise Invalid(f"{where}: {value} does not fit in 64 bits", "send a smaller number", where)
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid(f"{where}: {value} is not a finite number", "send a finite number or null", where)
    if numeric and isinstance(value, str):
        raise Invalid(
            f"{where}: {_name(value)} is text; column {_name(column)} takes numbers",
            'send a JSON number (5, not "5") or null',
            where,
        )


def find(home: Home, tok: Token, name: str, version: Optional[int]) -> OnlineDeployment:
    """The deployment a request names (None: the default), if the token may score it."""
    if not tok.can_invoke(name):
        raise Forbidden(
            f"this token may not score online deployment '{name}'",
            f"it needs the scope invoke:{name} (pipe token create --scope invoke:{name}); scopes: "
            + ", ".join(tok.scopes),
        )
    try:
        dep = OnlineStore(home.jobs).deployment(name, version)
    except PipefileError as e:
        raise NotFound(e.message, e.hint) from None
    if dep.disabled:
        raise Conflict(
            f"version {dep.version} of online deployment '{name}' is disabled",
            f"score the default: POST /v1/online/{name}/score",
        )
    return dep


def list_names(home: Home, tok: Token) -> dict:
    """The names this token may read (every one for admin and read tokens), with their default."""
    names = OnlineStore(home.jobs).names()
    if not tok.can_read_all():
        names = [(n, d) for n, d in names if tok.can_invoke(n)]
    return {"online": [{"name": n, "default_version": d, "url": f"/v1/online/{n}/score"} for n, d in names]}


def show_name(home: Home, tok: Token, name: str) -> dict:
    """A name's versions and default, and the feature columns of the default's model."""
    if not (tok.can_read_all() or tok.can_invoke(name)):
        raise Forbidden(f"this token may not read online deployment '{name}'", f"scopes: {', '.join(tok.scopes)}")
    store = OnlineStore(home.jobs)
    try:
        default = store.default_of(name)
        deps = store.deployments(name)
    except PipefileError as e:
        raise NotFound(e.message, e.hint) from None
    current = next((d for d in deps if d.version == default), None)
    return {
        "name": name,
        "default_version": default,
        "deployments": [d.to_json(default) for d in deps],
        "feature_columns": current.model.get("feature_columns", []) if current else [],
        "url": f"/v1/online/{name}/score",
    }


def score(
    home: Home, tok: Token, scorers, name: str, version: Optional[int], rows: Any, arrived: Optional[float] = None
) -> dict:
    """`{"predictions": [...]}` for the rows (and `"probabilities"` for a classifier), scored
    by the model's process of `scorers` (serve/scorer.py: ScorerPool); `arrived`: when the
    request came (time.monotonic()), if it waited before this."""
    return scorers.score(home, find(home, tok, name, version), rows, arrived)


def check_and_predict(loaded: Loaded, rows: Any, dep) -> dict:
    """What a scorer process does with a request's rows."""
    check_rows(rows, loaded.columns, loaded.numeric)
    return predict(loaded, rows, dep)


def predict(loaded: Loaded, rows: list, dep) -> dict:
    import pandas as pd

    from stdlib_components._lib.models import score_frame

    # Column names as plain objects: pandas 3 would make them an Arrow string index, which
    # score_frame's added columns (prediction, probability_*) are slow to extend.
    columns = pd.Index(loaded.columns, dtype=object)
    if loaded.numeric:
        # One float block, as the estimator would cast it anyway (null -> NaN): the same
        # predictions as a table of mixed number columns, built in a fifth of the time.
        import numpy as np

        values = np.array([[r[c] for c in loaded.columns] for r in rows], dtype=np.float64)
        frame = pd.DataFrame(values, columns=columns)
    else:
        frame = pd.DataFrame({c: [r[c] for r in rows] for c in loaded.columns}, columns=columns)
    try:
        scored = score_frame(loaded.model, frame)
    except (ValueError, TypeError) as e:
        raise Invalid(
            _why_refused(frame, e), f"the model takes the columns: {', '.join(loaded.columns)}", "rows"
        ) from None
    except Exception as e:  # the model's own code failed (it ran, as unpickling did): the
        # server's to fix, answered in the error shape rather than a bare 500 with no word of it
        raise CannotServe(
            f"the model of online deployment '{dep.name}' version {dep.version} ({dep.model_ref}) "
            f"failed scoring the rows: {type(e).__name__}: {_first_line(e)}",
            "fix the model (score the same rows where it was trained to see its traceback), "
            f"then deploy the new one: pipe deploy {dep.name} --model ARTIFACT[:VERSION]",
        ) from None
    out: dict = {
        "name": dep.name,
        "version": dep.version,
        "model": dep.model_ref,
        "predictions": _finite(scored["prediction"].tolist()),
    }
    if loaded.classifier:
        classes = list(loaded.model.estimator.classes_)
        per_class = [_finite(scored[f"probability_{c}"].tolist()) for c in classes]
        keys = [str(c) for c in classes]  # JSON keys are text: class 1 is "1"
        out["probabilities"] = [dict(zip(keys, ps)) for ps in zip(*per_class)]
    return out


def _finite(values: list) -> list:
    """JSON has no NaN or infinity: a model's non-finite output is answered as null."""
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        return [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]
    return values


def _first_line(e: BaseException) -> str:
    return ((str(e).splitlines() or [""])[0])[:300]


def _why_refused(frame, e: Exception) -> str:
    """What the model refused, naming a column with missing values where that is it."""
    nulls = [c for c in frame.columns if frame[c].isna().any()]
    if nulls:
        return f"rows: the model takes no missing values (null) and column(s) {_names(nulls)} have some"
    # score_frame's own refusal (stdlib_components/_lib/models.py: ScoringError) names the
    # columns at fault already; its "data:" is the batch input's name, here it is the rows
    text = getattr(e, "message", None) or (str(e).splitlines() or [type(e).__name__])[0]
    return "rows: " + str(text).removeprefix("data: ")[:300]
