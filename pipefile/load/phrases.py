"""How the loader's messages name types: with the right article, and with the hint that
says what to bind instead. Shared by every message that names a type, so they read alike."""

from __future__ import annotations


def article(word: str) -> str:
    return "an" if word[:1] in "aeio" else "a"  # "a uri_file": the u is sounded "you"


def a(word: str) -> str:
    """'an integer', 'a uri_file'."""
    return f"{article(word)} {word}"


def value_hint(dtype: str) -> str:
    return f"bind {a(dtype)}: a literal value or ${{{{params.NAME}}}} of type {dtype}"
