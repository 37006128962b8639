"""std/evaluate_model: metrics (JSON) and a report (PNG) of a scored table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .._lib.errors import ArgumentParser, run_main
from .._lib.evaluation import evaluate, write_report
from .._lib.tables import read_table

COMPONENT = "std/evaluate_model@1"


def main(argv: Sequence[str] | None = None) -> None:
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--scored", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--task", default="auto")
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--report", required=True)
    args = ap.parse_args(argv)

    frame = read_table(args.scored, param="scored")
    metrics = evaluate(frame, args.label, args.task)
    for path in (args.metrics, args.report):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_report(frame, args.label, metrics, args.report)
    with open(args.metrics, "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
        f.write("\n")
    shown = {k: v for k, v in metrics.items() if k in ("r2", "mae", "rmse", "accuracy", "f1_macro", "auc")}
    print(", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items()))


if __name__ == "__main__":
    run_main(COMPONENT, main)
