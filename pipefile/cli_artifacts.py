"""`pipe artifacts`, `pipe asset add`, `pipe lineage`: versioned artifacts and where they came from."""

from __future__ import annotations


def register(main, guard, context, file_option) -> None:
    """Add this module's commands to the `pipe` group."""
