"""Text that came from outside pipe (a file, a remote, a job record, a server) made safe to
print: no terminal escapes, no line breaks that would forge a row. Every layer that prints
such text, or puts it in a message, goes through here."""

from __future__ import annotations


def printable(value) -> str:
    """Text that came from a file, a remote, a job record or a server, safe to print on one
    line: every character that is not printable (terminal escapes such as ESC and OSC
    sequences, newlines that would forge a row, C1 controls, bidi overrides, lone
    surrogates) shown escaped as Python writes it (\\x1b, \\n). Printable text is unchanged."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def printable_lines(value) -> str:
    """`printable`, keeping the line breaks: for messages made of several lines on purpose
    (an error and its hint) that may quote such text."""
    text = value if isinstance(value, str) else str(value)
    return "\n".join(printable(line) for line in text.split("\n"))
