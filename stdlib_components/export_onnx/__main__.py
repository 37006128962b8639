"""std/export_onnx: a model folder of std/train_model as one ONNX file, for runtimes without Python."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .._lib.errors import ArgumentParser, ComponentError, run_main
from .._lib.models import load_model

COMPONENT = "std/export_onnx@1"


def _converter():
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError as err:
        raise ComponentError(
            f"export_onnx needs skl2onnx, which is not installed here ({err})",
            "pip install 'pipefile[onnx]' in the environment the step runs in",
        ) from None
    return convert_sklearn, FloatTensorType


def main(argv: Sequence[str] | None = None) -> None:
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--opset", type=int)
    ap.add_argument("--onnx", required=True)
    args = ap.parse_args(argv)

    convert_sklearn, FloatTensorType = _converter()
    model = load_model(args.model)
    info = model.info
    # one float input, columns in the model's feature order (written into the file's metadata)
    initial = [("input", FloatTensorType([None, len(info.feature_columns)]))]
    options = {"zipmap": False} if info.task == "classification" else None
    try:
        proto = convert_sklearn(
            model.estimator,
            initial_types=initial,
            target_opset=args.opset,
            options=options and {id(model.estimator): options},
        )
    except Exception as err:  # skl2onnx raises many types for what it cannot convert
        raise ComponentError(
            f"model: {info.estimator} could not be converted to ONNX: {type(err).__name__}: {err}",
            "give another `opset`, or a model skl2onnx supports",
        ) from None
    proto.graph.name = info.estimator  # skl2onnx names the graph by a random uuid: same model, same bytes
    for key, value in (
        ("feature_columns", json.dumps(info.feature_columns)),
        ("label", info.label),
        ("task", info.task),
    ):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    out = Path(args.onnx)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(proto.SerializeToString())
    print(f"{info.estimator} written as ONNX ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    run_main(COMPONENT, main)
