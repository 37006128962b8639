"""pipefile: a declarative, make-like pipeline runner for ML that decides by content."""

__version__ = "0.1.0"
