"""std/convert_format: write a table as CSV, Parquet or JSON lines."""

from __future__ import annotations

from collections.abc import Sequence

from .._lib.errors import ArgumentParser, ComponentError, did_you_mean, run_main
from .._lib.tables import read_table, write_table

COMPONENT = "std/convert_format@1"
TARGETS = ("csv", "parquet", "jsonl")


def main(argv: Sequence[str] | None = None) -> None:
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--format", default="csv")
    ap.add_argument("--converted", required=True)
    args = ap.parse_args(argv)

    if args.format not in TARGETS:
        guess = did_you_mean(args.format, TARGETS)
        raise ComponentError(
            f"format: {args.format!r} is not a format to write",
            f"did you mean {guess!r}?" if guess else f"choose one of {', '.join(TARGETS)}",
        )
    frame = read_table(args.data)
    write_table(frame, args.converted, args.format)
    print(f"{len(frame)} rows written as {args.format}")


if __name__ == "__main__":
    run_main(COMPONENT, main)
