"""Step and task names as file names, bounded by construction.

A task's name becomes a file or folder name in several places: its log
(`.pipe/jobs/JOB/NAME.log`) and metrics stream beside it, its staging leaf
(`.pipe/stage/NAME.OUTPUT.BASENAME`), a container task's own stage folder, a beside folder
(`.pipe-STEP-TOKEN`). A name is the user's (a step name, a matrix value, a folder entry of a
map) and may be longer than a file system takes in one name (255 bytes on Linux and macOS).

`file_name(name, suffix)` is the one mapping: the name itself when it fits (every existing
job's files keep their names), else a readable prefix, `~`, a hash of the whole name and the
suffix: at most `SHORT_BYTES` bytes, so that a sibling suffix a reader adds after (the metrics
stream's) still fits. A `/` in a name (an inner step `OUTER/INNER`) stays a folder: each part
is mapped on its own.

A shortened log gets a note beside it, `STEM.name`, holding the whole name: readers that list
a job's folder (`pipe logs --follow`, a running job's steps) name the task, not its file.
Standard library only: tracking.py (imported by a step) uses it.
"""

from __future__ import annotations

import os
from typing import Optional

MAX_BYTES = 255  # one file name, in bytes: ext4, xfs, btrfs, APFS, tmpfs
SHORT_BYTES = 200  # a shortened name: room left for a suffix added after it
_FAST = 63  # characters: this many fit whatever they are (4 bytes each at most, 252)
_HASH_HEX = 20  # 80 bits of the whole name
_MAX_SUFFIX = 40  # bytes of a suffix kept in a shortened name (a longer one is hashed with it)
NAME_NOTE = ".name"


def file_name(name: str, suffix: str = "") -> str:
    """`name + suffix` as a relative path whose every part is at most 255 bytes: the same
    string when it fits; deterministic, and distinct names give distinct results."""
    if len(name) + len(suffix) <= _FAST:  # (the step path: one length check)
        return name + suffix
    if "/" not in name:
        return _leaf(name, suffix)
    *outer, inner = name.split("/")
    return "/".join([_leaf(p, "") for p in outer] + [_leaf(inner, suffix)])


def _encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # (never raises: a name that cannot be a file fails there)


def _leaf(name: str, suffix: str) -> str:
    whole = name + suffix
    raw = _encoded(whole)
    if len(raw) <= MAX_BYTES:
        return whole
    import hashlib  # (only for a long name: a short one never imports it)

    tail = suffix if len(_encoded(suffix)) <= _MAX_SUFFIX else ""
    mark = "~" + hashlib.blake2b(raw, digest_size=_HASH_HEX // 2).hexdigest()
    room = SHORT_BYTES - len(_encoded(mark + tail))
    # Cut on a character boundary: 'ignore' drops a character cut in half.
    prefix = _encoded(name)[:room].decode("utf-8", "ignore")
    return prefix + mark + tail


def stage_leaf(task: str, output: str, base: str) -> str:
    """The staging name of `task`'s output `output` whose file is `base`: TASK.OUTPUT.BASE
    (flat; the extension kept for tools that care), bounded."""
    dot = base.rfind(".")
    ext = base[dot:] if dot > 0 else ""
    return file_name(f"{task}.{output}.{base[: len(base) - len(ext)]}", ext)


def beside_name(prefix: str, step: str, token: str) -> str:
    """A beside folder's name, PREFIX STEP-TOKEN: the step's name only for whoever looks (an
    inner step's '/' is no folder here; a long name is shortened, the token keeps it distinct)."""
    return file_name(prefix + step.replace("/", "%2F"), f"-{token}")


def long_part(path: str) -> Optional[str]:
    """A part of workspace path `path` ('/' between parts) longer than a file name can be, or
    None: such a path can never be written or read."""
    for part in path.split("/"):
        if len(part) > _FAST and len(_encoded(part)) > MAX_BYTES:
            return part
    return None


def is_shortened(name: str, rel: str, suffix: str) -> bool:
    """Whether `rel` (what file_name gave for `name` and `suffix`) is not the name itself."""
    return len(rel) != len(name) + len(suffix) or rel != name + suffix


def log_file(name: str) -> str:
    """Where the log of task `name` is, relative to its job's folder."""
    return file_name(name, ".log")


def note_name(folder: str, stem: str, name: str) -> None:
    """Beside a shortened file `folder/stem.*`: the whole name it stands for."""
    with open(os.path.join(folder, stem + NAME_NOTE), "w", encoding="utf-8", errors="surrogatepass") as f:
        f.write(name)


def name_of(folder: str, stem: str) -> str:
    """The task a file `folder/stem.*` belongs to (`stem`: relative to `folder`, '/' between
    parts): its note's name when it was shortened, else the stem itself."""
    if "~" not in stem:  # (a shortened part always holds its hash mark)
        return stem
    try:
        with open(os.path.join(folder, stem + NAME_NOTE), encoding="utf-8", errors="surrogatepass") as f:
            return f.read(64 * 1024)
    except (OSError, ValueError):
        return stem
