"""`pipe gc`, `pipe verify`, `pipe clone`: store maintenance and cloning jobs."""

from __future__ import annotations


def register(main, guard, context, file_option) -> None:
    """Add this module's commands to the `pipe` group."""
