"""Renders `pipe envs` and `pipe envs prune`: plain columns, or rich tables on a terminal."""

from __future__ import annotations

import sys

from .text import size as size_text
from .text import table


def _short(identity) -> str:
    if not identity:
        return "-"
    kind, _, digest = identity.partition(":")
    return f"{kind}:{digest[:12]}" if digest else identity


def render_envs(rows: list, builds: list, notes: list, stream=None) -> None:
    stream = stream or sys.stdout
    if not rows:
        stream.write("this Pipefile declares no environments (every step runs in the calling shell)\n")
    else:
        lines = []
        for r in rows:
            built = "error" if r.error else {True: "yes", False: "no", None: "-"}[r.built]
            lines.append(
                [
                    r.name,
                    r.kind,
                    _short(r.identity),
                    built,
                    size_text(r.size),
                    ", ".join(r.steps) or "(no step)",
                    r.error or r.detail,
                ]
            )
        table(["environment", "type", "identity", "built", "size", "steps", "what"], lines, None, stream)
    unused = [b for b in builds if not b.used]
    if unused:
        total = sum(b.size or 0 for b in unused)
        stream.write(
            f"\n{len(unused)} unused build(s) in the store ({size_text(total)}): `pipe envs prune` removes them\n"
        )
        table(
            ["build", "type", "built for", "size"],
            [[b.build_id[:24], b.kind, b.name, size_text(b.size)] for b in unused],
            None,
            stream,
        )
    for n in notes:
        stream.write(f"note: {n}\n")


def render_pruned(removed: list, notes: list, dry_run: bool, stream=None) -> None:
    stream = stream or sys.stdout
    verb = "would remove" if dry_run else "removed"
    for b in removed:
        stream.write(f"{verb} {b.kind} {b.build_id[:24]} ({b.name}, {size_text(b.size)})\n")
    total = sum(b.size or 0 for b in removed)
    stream.write(
        f"{verb} {len(removed)} unused environment build(s), {size_text(total)}\n"
        if removed
        else "no unused environment builds\n"
    )
    for n in notes:
        stream.write(f"note: {n}\n")
