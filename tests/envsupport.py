"""Helpers for the environment tests: services that may be missing, and test images built here.

A test that needs a service (a Docker daemon, PyPI, a conda) skips with the reason
when it is absent, and fails instead when PIPE_CI_REQUIRE_SERVICES=1 (CI, where
`.ci/docker.sh` provides them).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import tarfile

import pytest

REQUIRED = os.environ.get("PIPE_CI_REQUIRE_SERVICES") == "1"


def need(ok: bool, reason: str) -> None:
    if ok:
        return
    if REQUIRED:
        pytest.fail(f"{reason} (PIPE_CI_REQUIRE_SERVICES=1: CI must provide it)")
    pytest.skip(reason)


def remove_test_images(client, tag: str) -> None:
    """Remove the images a test module or session made: tagged `pipefile-test/...:TAG`, or
    built with the label pipefile-test=TAG. The daemon is shared with parallel test workers
    that remove their own images meanwhile: one raw listing (the SDK's `images.list()`
    inspects each image after listing, and fails on one removed in between), and a removal
    that finds the image gone or in use is left."""
    for im in client.api.images():
        tags = im.get("RepoTags") or []
        ours = any(t.startswith("pipefile-test/") and t.endswith(f":{tag}") for t in tags)
        if ours or (im.get("Labels") or {}).get("pipefile-test") == tag:
            try:
                client.api.remove_image(im["Id"], force=True)
            except Exception:  # noqa: BLE001 - in use by a parallel run, or gone already
                pass


def docker_client():
    """A connected Docker SDK client, or skip/fail saying why there is none."""
    try:
        import docker
    except ImportError:
        need(False, "the Docker SDK for Python is not installed (pip install docker)")
    from pipefile.envs.docker.daemon import unix_socket_problem

    # The SDK leaves its socket open when a unix socket refuses it: asked first, with ours.
    problem = unix_socket_problem(os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock")
    need(problem is None, f"no Docker daemon answers ({problem!r}); start dockerd, or run .ci/docker.sh")
    c = None
    try:
        c = docker.from_env(timeout=60)
        c.ping()
        return c
    except Exception as e:  # noqa: BLE001
        if c is not None:
            c.close()
        need(False, f"no Docker daemon answers ({e.__class__.__name__}); start dockerd, or run .ci/docker.sh")


def pypi_reachable() -> bool:
    if os.environ.get("PIP_INDEX_URL") or os.environ.get("PIP_FIND_LINKS"):
        return True
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


def busybox_rootfs() -> bytes:
    """A tar of a tiny root file system: a static busybox and a symlink per applet (sh, cat, ...)."""
    exe = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(exe):
        need(False, "busybox is not installed (apt-get install busybox-static), needed to make test images")
    applets = subprocess.run([exe, "--list"], capture_output=True, text=True, check=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "tmp", "etc", "proc", "sys", "dev"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(ti)
        tar.add(exe, "bin/busybox")
        for a in applets:
            if a != "busybox":
                ti = tarfile.TarInfo("bin/" + a)
                ti.type, ti.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(ti)
    return buf.getvalue()
