"""std/apply_transformation: scale a table with the fit std/normalize_data wrote."""

from __future__ import annotations

from collections.abc import Sequence

from .._lib import scaling
from .._lib.errors import ArgumentParser, run_main
from .._lib.tables import read_table, write_table

COMPONENT = "std/apply_transformation@1"


def main(argv: Sequence[str] | None = None) -> None:
    ap = ArgumentParser(prog=COMPONENT, description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--transform", required=True)
    ap.add_argument("--transformed", required=True)
    args = ap.parse_args(argv)

    transform = scaling.load(args.transform)
    frame = read_table(args.data)
    scaling.check_applicable(frame, transform)
    write_table(scaling.apply(frame, transform), args.transformed)
    print(f"{len(transform['columns'])} column(s) scaled by {transform['method']} as fitted")


if __name__ == "__main__":
    run_main(COMPONENT, main)
