"""pipefile: a declarative, make-like pipeline runner for ML that decides by content."""

__version__ = "0.1.0"
# What `pipe --version` prints: entry.py answers it alone, before click is imported; the
# group's version option formats the same message.
VERSION_MESSAGE = "%(prog)s, version %(version)s"
