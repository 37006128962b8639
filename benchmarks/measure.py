"""Timing whole processes (wall time and peak memory), and the machine's reference costs.

`timed()` starts one command and returns its wall time and the peak resident memory of the largest
process in its tree (from GNU time when installed, else from `os.wait4`: Linux folds the peak of
every reaped descendant into the rusage of its parent). The reference costs say what a tool's
overhead should be compared with: a process spawn, a `stat`, and hashing a big file with xxh3-128
(and md5) from page cache and from disk; each is the best of several rounds, the cost without
interference from other work on the machine.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

MIB = 1 << 20
GIB = 1 << 30


@dataclass
class Sample:
    """One timed process: exit code, wall seconds, peak RSS in MiB, and whether it ran past its limit."""

    code: int
    seconds: float
    peak_mib: float
    timed_out: bool = False


def _find_gnu_time() -> str | None:
    """GNU time's path, if installed: it reports its child's peak memory without our own RSS in it."""
    exe = shutil.which("time") or ("/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None)
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return exe if "GNU" in out.stdout + out.stderr else None


GNU_TIME = _find_gnu_time()
# Without GNU time, the peak comes from wait4 on our direct child, whose figure includes the RSS of this
# Python process (the child is a vfork of it until exec): a floor of about 20-30 MiB.
PEAK_NOTE = "GNU time" if GNU_TIME else "wait4 (includes the harness's own RSS as a floor)"


def timed(argv: list[str], cwd: str, env: dict[str, str], log_path: str, timeout: float) -> Sample:
    """Run `argv` in `cwd`, stdout+stderr to `log_path`; measure wall time and the peak RSS of its process tree."""
    mem_file = log_path + ".rss"
    cmd = [GNU_TIME, "-q", "-f", "%M", "-o", mem_file, *argv] if GNU_TIME else argv
    with open(log_path, "ab") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
        status, usage, timed_out = _wait(proc, start + timeout)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not try to reap it again
    peak_kib = usage.ru_maxrss
    if GNU_TIME:
        peak_kib = _read_gnu_time(mem_file)
    return Sample(proc.returncode, seconds, peak_kib / 1024, timed_out)


def _read_gnu_time(path: str) -> float:
    """The peak RSS (KiB) that GNU time wrote: the last line that is a number."""
    try:
        with open(path) as f:
            lines = [line.strip() for line in f if line.strip().isdigit()]
        os.remove(path)
    except OSError:
        return 0.0
    return float(lines[-1]) if lines else 0.0


def _wait(proc: subprocess.Popen, deadline: float):
    """Wait for `proc` with wait4; a timer kills its process group at `deadline`.

    Returns (status, rusage, timed_out)."""
    fired = threading.Event()

    def kill() -> None:
        fired.set()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(max(deadline - time.perf_counter(), 0.0), kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    return status, usage, fired.is_set()


def median(values: list[float]) -> float | None:
    """The median, or None for no values."""
    return statistics.median(values) if values else None


# --- reference costs ----------------------------------------------------------------------------


def spawn_cost(argv: list[str], count: int) -> float:
    """Seconds per run of `argv` when started `count` times from Python (fork/exec, wait); best of 5 rounds."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(count):
            subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
        rounds.append((time.perf_counter() - start) / count)
    return min(rounds)


def stat_cost(paths: list[str]) -> float:
    """Seconds per `os.stat` over `paths` (warm dentry cache), best of 3 passes."""
    rounds = []
    for _ in range(3):
        start = time.perf_counter()
        for p in paths:
            os.stat(p)
        rounds.append((time.perf_counter() - start) / len(paths))
    return min(rounds)


def evict(path: str) -> None:
    """Drop `path` from the page cache (fsync, then POSIX_FADV_DONTNEED), so the next read is cold."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def hash_throughput(path: str, algorithm: str, cold: bool) -> float:
    """Bytes per second reading `path` in 1 MiB blocks into `algorithm` ('xxh3_128', 'md5' or 'read').

    Warm: the file is read once first, then the best of 3 timed passes. Cold: the best of 3 passes,
    each after evicting the file from the page cache.
    """
    if not cold:
        _read_all(path, "read")
    passes = []
    for _ in range(3):
        if cold:
            evict(path)
        passes.append(_read_all(path, algorithm))
    return os.path.getsize(path) / min(passes)


def _read_all(path: str, algorithm: str) -> float:
    """Seconds to read `path` through the hasher."""
    h = _hasher(algorithm)
    buf = bytearray(MIB)
    view = memoryview(buf)
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            if h is not None:
                h.update(view[:n])
    if h is not None:
        h.digest()
    return time.perf_counter() - start


def _hasher(algorithm: str):
    if algorithm == "read":
        return None
    if algorithm == "md5":
        return hashlib.md5()
    import xxhash

    return xxhash.xxh3_128()


def reference_costs(scratch: str, stat_files: int, big_mib: int, spawns: int = 300, log=print) -> dict:
    """Measure the reference costs on this machine, using `scratch` for temporary files."""
    from benchmarks.generate import folder_file, write_big_file

    os.makedirs(scratch, exist_ok=True)
    log("reference: process spawn")
    a, b = os.path.join(scratch, "a.txt"), os.path.join(scratch, "b.txt")
    for p in (a, b):
        with open(p, "w") as f:
            f.write("x\n")
    step_cmd = f"tail -q -c 64 {a} {b} > {os.path.join(scratch, 'c.txt')} && echo s >> {os.path.join(scratch, 'log')}"
    out = {
        "spawn_sh_true_s": spawn_cost(["sh", "-c", "true"], spawns),
        "spawn_step_s": spawn_cost(["sh", "-c", step_cmd], spawns),
    }
    log(f"reference: stat of {stat_files} files")
    paths = [os.path.join(scratch, "files", folder_file(i)) for i in range(stat_files)]
    for i, p in enumerate(paths):
        if i % 1000 == 0:
            os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(f"file {i}\n")
    out["stat_s"] = stat_cost(paths)
    out["stat_files"] = stat_files
    log(f"reference: hashing a {big_mib} MiB file")
    big = os.path.join(scratch, "big.bin")
    write_big_file(big, big_mib * MIB)
    out["big_mib"] = big_mib
    for algo in ("xxh3_128", "md5", "read"):
        for cold in (False, True):
            out[f"{algo}_{'cold' if cold else 'warm'}_Bps"] = hash_throughput(big, algo, cold)
    os.remove(big)
    return out


def machine() -> dict:
    """Describe the machine: CPUs, CPU model, memory, OS, Python."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model or platform.processor() or "unknown",
        "memory_gib": round(mem_gib, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "load_start": [round(x, 2) for x in os.getloadavg()],
    }
