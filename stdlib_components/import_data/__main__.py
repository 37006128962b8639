"""std/import_data: a table file, or a folder of table files, as one Parquet table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .._lib.errors import ArgumentParser, ComponentError, did_you_mean, run_main
from .._lib.tables import FORMATS, read_table, write_table

COMPONENT = "std/import_data@1"


def main(argv: Sequence[str] | None = None) -> None:
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--source")
    ap.add_argument("--source-folder")
    ap.add_argument("--format", default="auto")
    ap.add_argument("--data", required=True)
    args = ap.parse_args(argv)

    if args.format not in FORMATS:
        guess = did_you_mean(args.format, FORMATS)
        raise ComponentError(
            f"format: {args.format!r} is not a table format",
            f"did you mean {guess!r}?" if guess else f"choose one of {', '.join(FORMATS)}",
        )
    # Two ports because a port is typed: pipe checks a uri_file is a file and a uri_folder a folder.
    if bool(args.source) == bool(args.source_folder):
        raise ComponentError(
            "source: give exactly one of `source` (a file) and `source_folder` (a folder)",
            "bind `source: data/table.csv`, or `source_folder: data/tables`",
        )
    param, path = ("source", args.source) if args.source else ("source_folder", args.source_folder)
    if args.source and Path(path).is_dir():
        raise ComponentError(f"source: {path} is a folder", "bind it to `source_folder` instead")
    if args.source_folder and Path(path).exists() and not Path(path).is_dir():
        raise ComponentError(f"source_folder: {path} is a file", "bind it to `source` instead")
    frame = read_table(path, param, args.format)
    if len(frame.columns) == 0:
        raise ComponentError(f"{param}: {path} holds no columns", "check the file: is it empty?")
    write_table(frame, args.data)
    print(f"{len(frame)} rows, {len(frame.columns)} columns from {path}")


if __name__ == "__main__":
    run_main(COMPONENT, main)
