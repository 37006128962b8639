"""pipefile: a declarative, make-like pipeline runner for ML that decides by content."""

__version__ = "0.1.0"
# What `pipe --version` prints: entry.py answers it alone, before click is imported; the
# group's version option formats the same message.
VERSION_MESSAGE = "%(prog)s, version %(version)s"


def __getattr__(name: str):
    # `pipefile.log_metric` for steps, imported only when a step asks for it (start-up)
    if name == "log_metric":
        from .tracking import log_metric

        return log_metric
    raise AttributeError(f"module 'pipefile' has no attribute {name!r}")
