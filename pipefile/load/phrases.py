"""How the loader's messages name types: with the right article, and with the hint that
says what to bind instead. Shared by every message that names a type, so they read alike."""

from __future__ import annotations


def article(word: str) -> str:
    return "an" if word[:1] in "aeio" else "a"  # "a uri_file": the u is sounded "you"


def a(word: str) -> str:
    """'an integer', 'a uri_file'."""
    return f"{article(word)} {word}"


# For a value that must be one plain value (a matrix's, a param's) and was a list, mapping or nothing.
SCALAR_HINT = "write one plain value: a number (0.01), text (adam) or true/false; quote text that is empty ('')"

COMMAND_HINT = "write what it runs: command: python train.py, or a list of arguments: [python, train.py]"


def value_hint(dtype: str) -> str:
    return f"bind {a(dtype)}: a literal value or ${{{{params.NAME}}}} of type {dtype}"


def spelled(value) -> str:
    """A value as a Pipefile spells it, in a message's list of values: `true`, not Python's `True`."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def quoted(value) -> str:
    """A value named in a message: text quoted ('auto'), a boolean as the Pipefile spells it."""
    return spelled(value) if isinstance(value, bool) else repr(value)
