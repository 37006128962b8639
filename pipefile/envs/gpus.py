"""GPU discovery: which devices this machine has, by id, with their model.

    `pipe run --gpus 0,1`  >  PIPE_GPUS=0,1  >  NVML (pynvml, if installed)  >  nvidia-smi

What is detected is narrowed to the CUDA_VISIBLE_DEVICES pipe itself runs with, when set (a
pipe run inside a step that leased GPU 1, or by a user told to use GPUs 2,3): NVML and
nvidia-smi see every device of the machine, and handing out the others would share them.

An override is a comma-separated list of device ids (what CUDA_VISIBLE_DEVICES
takes), each optionally with its model: `0:A100,1:A100`. `none` (or an empty
value) means no GPU. An id's model comes from the override, else from detection,
else "unknown". Detection runs only when a step asks for GPUs or keys on the GPU
model, so pipelines without GPUs never pay for it.
"""

from __future__ import annotations

import os
from typing import Optional

from .. import lazyre
from ..errors import PipefileError
from ..lazyclass import dataclass
from ..printable import printable

ENV_VAR = "PIPE_GPUS"
VISIBLE_VAR = "CUDA_VISIBLE_DEVICES"
_ID_RE = lazyre.Pattern(r"[A-Za-z0-9][A-Za-z0-9_\-]*")
# Drivers before R470 list a MIG device as MIG-GPU-<its GPU's UUID>/<instance>/<compute instance>.
_OLD_MIG_RE = lazyre.Pattern(r"MIG-GPU-[0-9A-Fa-f][0-9A-Fa-f\-]*/[0-9]+/[0-9]+")


def _is_uuid(gid: str) -> bool:
    """Whether `gid` is a device UUID as `nvidia-smi -L` lists it (GPU-..., MIG-...)."""
    return bool(_ID_RE.fullmatch(gid) and gid.startswith(("GPU-", "MIG-"))) or bool(_OLD_MIG_RE.fullmatch(gid))


@dataclass(frozen=True)
class Gpu:
    id: str  # what CUDA_VISIBLE_DEVICES names: an index, or a UUID
    model: str = "unknown"


def _nvml() -> Optional[list]:
    try:
        import pynvml  # noqa: PLC0415 - optional (nvidia-ml-py)
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver: let nvidia-smi have its say
        return None
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))
            out.append(Gpu(str(i), name.decode() if isinstance(name, bytes) else str(name)))
        return out
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


# Why the last detection found no GPU, where nvidia-smi said more than nothing (a driver that
# does not answer): the error that a step asking for GPUs gets names it.
_why_none: Optional[str] = None
_SMI_TIMEOUT = 30


def why_none() -> str:
    """What the last detection that found no GPU ran into, for the error of a step that asks for one."""
    return _why_none or "neither NVML nor nvidia-smi sees one"


def _nvidia_smi() -> list:
    import shutil  # here, not at the top: a no-op run writes nothing (start-up)
    import subprocess

    global _why_none
    _why_none = None
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        p = subprocess.run(
            [exe, "--query-gpu=index,name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            errors="replace",  # (a driver's message in another encoding is still worth showing)
            timeout=_SMI_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        _why_none = f"{exe} did not answer within {_SMI_TIMEOUT} s: is the NVIDIA driver hung?"
        return []
    except (OSError, subprocess.SubprocessError) as e:
        _why_none = f"{exe} could not be run: {e}"
        return []
    if p.returncode != 0:
        said = next((x.strip() for x in (p.stdout + "\n" + p.stderr).splitlines() if x.strip()), "")
        _why_none = f"{exe} exited with status {p.returncode}" + (f": {printable(said[:200])}" if said else "")
        return []
    out = []
    for line in p.stdout.splitlines():
        idx, _, name = line.partition(",")
        if idx.strip().isdigit():
            out.append(Gpu(idx.strip(), printable(name.strip()) or "unknown"))
    if not out and p.stdout.strip():
        _why_none = f"{exe} printed no GPU: {printable(p.stdout.strip().splitlines()[0][:200])}"
    return out


def detect() -> list:
    """The NVIDIA GPUs of this machine ([] when there are none, or no driver)."""
    found = _nvml()
    return found if found is not None else _nvidia_smi()


def parse(text: str, what: str) -> list:
    """[(id, model or None)] from `0,1` or `0:A100,1:A100`; `none` or empty: no GPU."""
    text = text.strip()
    if text.lower() in ("", "none"):
        return []
    out, seen = [], set()
    for part in text.split(","):
        gid, _, model = part.strip().partition(":")
        gid = gid.strip()
        if gid.lower() == "all":  # (Docker's word: here it named one device, "all", that CUDA never finds)
            raise PipefileError(
                f"{what}: 'all' is not a GPU id",
                hint=f"leave {what} out to use every GPU detected, or list device ids, e.g. 0,1",
            )
        # An index, or a UUID as `nvidia-smi -L` lists them: anything else CUDA_VISIBLE_DEVICES
        # takes as no device at all, and the step would run on the CPU without a word.
        if not ((gid.isdecimal() and gid.isascii()) or _is_uuid(gid)):
            raise PipefileError(
                f"{what}: '{part.strip()}' is not a GPU id",
                hint="list device indexes separated by commas, e.g. 0,1, or their UUIDs (GPU-..., MIG-...: "
                "nvidia-smi -L); or none",
            )
        if gid in seen:
            raise PipefileError(f"{what}: GPU {gid} is listed twice", hint="list each device once, e.g. 0,1")
        seen.add(gid)
        out.append((gid, model.strip() or None))
    return out


def pool(override: Optional[str] = None) -> list:
    """The GPUs the scheduler may hand out: `--gpus`, else PIPE_GPUS, else detected."""
    if override is not None:
        wanted = parse(override, "--gpus")
    elif os.environ.get(ENV_VAR) is not None:
        wanted = parse(os.environ[ENV_VAR], ENV_VAR)
    else:
        found = detect()
        visible = os.environ.get(VISIBLE_VAR)
        return found if visible is None else _visible(found, visible)
    known = {}
    if any(model is None for _, model in wanted):
        known = {g.id: g.model for g in detect()}
    return [Gpu(gid, model or known.get(gid, "unknown")) for gid, model in wanted]


def _visible(found: list, visible: str) -> list:
    """The detected GPUs that CUDA_VISIBLE_DEVICES `visible` lets a process use, in its order.
    As CUDA reads it: empty (or -1) is none, and the list ends at the first id that names no
    device. A UUID (GPU-..., MIG-...) is taken as it is: detection lists indexes only."""
    by_id = {g.id: g for g in found}
    out: list = []
    for part in visible.split(","):
        gid = part.strip()
        if gid in by_id:
            got = by_id[gid]
        elif _is_uuid(gid) and found:
            got = Gpu(gid)
        else:
            break
        if got not in out:
            out.append(got)
    if found and not out:
        global _why_none
        _why_none = f"{VISIBLE_VAR}={printable(visible[:200])!r} hides the {len(found)} detected"
    return out


def model_of(gpus) -> str:
    """One name for a set of GPUs: the model, or the models joined with '+' when mixed."""
    models = sorted({g.model for g in gpus})
    return "+".join(models) if models else "none"
