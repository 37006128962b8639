"""JSON files a std component writes (reports, statistics, fitted transforms) and reads back.

Numpy numbers become plain numbers and NaN becomes null, so every file is strict JSON that any
reader (a browser included) accepts.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from .errors import ComponentError


def plain(value: Any) -> Any:
    """`value` with numpy scalars and arrays turned into Python ones and NaN/inf into None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return plain(value.tolist())  # numpy scalar or array
    if hasattr(value, "isoformat"):
        return value.isoformat()  # timestamps
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing values
        return None
    return value


def write_json(path: str | os.PathLike, value: Any) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(plain(value), indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike, param: str) -> Any:
    p = Path(path)
    if p.is_dir():
        raise ComponentError(f"{param}: {p} is a folder, not a JSON file")
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise ComponentError(f"{param}: {p} does not exist") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise ComponentError(f"{param}: {p} is not valid JSON: {err}") from None
