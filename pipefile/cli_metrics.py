"""`pipe metrics show/diff/history`, `pipe params diff`: comparing jobs."""

from __future__ import annotations


def register(main, guard, context, file_option) -> None:
    """Add this module's commands to the `pipe` group."""
