"""What the browser tests of `pipe ui` share: Debian's Chromium driven by Playwright for Python
(never Playwright's own browser download), a real `pipe ui` server on a temp workspace, and the
guard that fails a test on any request to a host that is not loopback.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from envsupport import need

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
URL_LINE = re.compile(r"pipe ui: (http://\S+)")


def require_browser() -> None:
    """Skip (or, in CI, fail) with the reason when the browser or its driver is missing."""
    need(Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/ui.sh does it in CI)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        need(False, "Playwright for Python is missing: pip install -e '.[test]' (never `playwright install`)")


def launch(pw):
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


class OffHostGuard:
    """Routes every request of a browser context: loopback goes on, anything else is aborted
    and remembered, so the test can fail naming it (the designer must need no network)."""

    def __init__(self, context):
        self.refused: list[str] = []
        context.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about") or (parts.hostname or "") in LOOPBACK:
            route.continue_()
        else:
            self.refused.append(url)
            route.abort()

    def check(self) -> None:
        assert not self.refused, f"the page asked for non-loopback addresses: {self.refused}"


class UiServer:
    """`pipe ui --no-browser --port 0` in a workspace: the URL it prints, stopped at the end."""

    def __init__(self, root: Path, *extra: str):
        env = dict(os.environ, PIPE_PLAIN="1")
        env.pop("PIPE_UI_TOKEN", None)
        # stderr (the access log) to a file: a pipe nobody reads would fill and stall the server
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipefile", "ui", "--no-browser", "--port", "0", *extra],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout], daemon=True).start()
        deadline = time.monotonic() + 60
        self.url = ""
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            m = URL_LINE.search(line)
            if m:
                self.url = m.group(1)
                break
        if not self.url:
            self.stop()
            self.log.seek(0)
            err = self.log.read()
            self.log.close()
            raise AssertionError(f"pipe ui printed no URL (exit {self.proc.returncode}):\n{err}")
        parts = urlsplit(self.url)
        self.origin = f"{parts.scheme}://{parts.netloc}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        if not self.log.closed:
            self.log.close()


def pipe_ui_present() -> bool:
    r = subprocess.run([sys.executable, "-m", "pipefile", "ui", "--help"], capture_output=True, text=True)
    return r.returncode == 0


def copy_example(src: Path, dst: Path) -> None:
    for p in src.iterdir():
        (shutil.copytree if p.is_dir() else shutil.copy2)(p, dst / p.name)


# Fixtures for a test module that imports them (`from uibrowser import browser, opened`).
@pytest.fixture(scope="module")
def browser():
    require_browser()
    need(pipe_ui_present(), "`pipe ui` (the designer's server) is not in this checkout")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()


@pytest.fixture
def opened(browser, repo):
    """open(*pipe_ui_args) -> a page on a fresh `pipe ui` in the workspace; closed after."""
    done = []

    def open_(*args: str):
        server = UiServer(repo.root, *args)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        guard = OffHostGuard(context)
        errors: list = []
        pg = context.new_page()
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.set_default_timeout(20_000)
        done.append((server, context, guard, errors))
        pg.goto(server.url)
        return pg

    yield open_
    for server, context, guard, errors in done:
        context.close()
        server.stop()
        guard.check()
        assert not errors, f"the page threw: {errors}"


# A Pipefile with a pipeline component used as a step (the designer's nested-pipeline tests).
NESTED = """\
components:
  train:
    type: pipeline
    inputs:
      data: uri_file
    outputs:
      model: uri_file
    steps:
      prep:
        command: cp ${{inputs.raw}} ${{outputs.clean}}
        inputs: {raw: "${{parent.inputs.data}}"}
        outputs: {clean: }
      fit:
        command: cp ${{inputs.clean}} ${{outputs.model}}
        inputs: {clean: "${{steps.prep.outputs.clean}}"}
        outputs: {model: "${{parent.outputs.model}}"}
steps:
  small:
    component: train
    inputs: {data: data.csv}
    outputs: {model: build/small.txt}
  report:
    command: cat ${{inputs.m}} > ${{outputs.r}}
    inputs: {m: "${{steps.small.outputs.model}}"}
    outputs: {r: build/report.txt}
"""
