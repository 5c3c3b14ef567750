"""The explorer in a real browser: `make explore` (Voila) driven by headless Chromium through Playwright, and
notebook 08 opened in JupyterLab until its kernel is idle.

Run by `make test-browser` (part of `make test`). Skipped, with the reason printed, only where Chromium or
Playwright is missing; `.ci/run` installs both. Screenshots of the app before and after a slider move are
written to build/.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
CHROMIUM = os.environ.get("NFD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# Flags that keep Chromium quiet on a machine without a network or a display (see the project's notes).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT = 300  # seconds: the first start of a kernel that runs the whole notebook on a shared CPU


def _require_browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium found (apt-get install chromium; .ci/run does this)")
    return pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server started in its own process group, its output collected, stopped by signalling the group."""

    def __init__(self, cmd: list[str], pattern: str, env: dict | None = None):
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True, env={**os.environ, **(env or {})})
        self.url = self._wait_for(pattern)

    def output(self) -> str:
        return Path(self.log.name).read_text()

    def _wait_for(self, pattern: str) -> str:
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            match = re.search(pattern, self.output())
            if match:
                return match.group(0)
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            time.sleep(0.5)
        raise TimeoutError(f"server did not print {pattern!r} within {START_TIMEOUT} s:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        os.unlink(self.log.name)


def _browser(sync_api):
    p = sync_api.sync_playwright().start()
    user_data = tempfile.mkdtemp(prefix="nfd-chromium-")
    context = p.chromium.launch_persistent_context(user_data, executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                   headless=True, viewport={"width": 1280, "height": 1600})
    return p, context, user_data


def _error_texts(page) -> list[str]:
    texts = page.locator(".nfd-error").all_inner_texts()
    texts += page.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    texts += [t for t in page.locator(".jp-OutputArea-output pre").all_inner_texts() if "Traceback" in t]
    return [t for t in texts if t.strip()]


def test_explorer_app_redraws_after_a_keyboard_slider_move():
    sync_api = _require_browser()
    BUILD.mkdir(exist_ok=True)
    port = _free_port()
    server = Server(["make", "--no-print-directory", "explore", f"EXPLORE_PORT={port}"],
                    rf"http://127\.0\.0\.1:{port}/\?token=[0-9a-f]+", env={"NFD_QUICK": "1"})
    p, context, user_data = _browser(sync_api)
    try:
        page = context.new_page()
        page.goto(server.url, timeout=START_TIMEOUT * 1000)
        image = page.locator(".nfd-live img").first
        image.wait_for(state="visible", timeout=START_TIMEOUT * 1000)
        page.wait_for_function("() => document.querySelector('.nfd-live img').naturalWidth > 100",
                               timeout=START_TIMEOUT * 1000)
        status = page.locator(".nfd-live").first.inner_text()
        assert "device" in status and "last update" in status, status
        before_src = image.get_attribute("src")
        before_png = image.screenshot()
        page.screenshot(path=str(BUILD / "explorer-before.png"), full_page=True)

        # The depth slider: focus its handle and press the right arrow once (L doubles).
        depth = page.locator(".widget-slider", has=page.get_by_text("depth L", exact=True)).first
        readout_before = depth.locator(".widget-readout").inner_text()
        handle = depth.locator(".noUi-handle").first
        handle.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("src => document.querySelector('.nfd-live img').src !== src", arg=before_src,
                               timeout=120_000)
        page.wait_for_timeout(500)  # let the new image decode
        readout_after = depth.locator(".widget-readout").inner_text()
        after_png = image.screenshot()
        page.screenshot(path=str(BUILD / "explorer-after.png"), full_page=True)

        assert readout_before != readout_after, (readout_before, readout_after)
        assert int(readout_after) == 2 * int(readout_before)
        assert before_png != after_png, "the figure did not change after the slider move"
        assert _error_texts(page) == [], _error_texts(page)
    finally:
        context.close()
        p.stop()
        shutil.rmtree(user_data, ignore_errors=True)
        server.stop()


def test_notebook_08_opens_in_jupyterlab_and_its_kernel_goes_idle():
    sync_api = _require_browser()
    port = _free_port()
    workspaces = tempfile.mkdtemp(prefix="nfd-lab-workspaces-")
    lab = [str(ROOT / ".venv" / "bin" / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--notebook-dir=notebooks", f"--LabApp.workspaces_dir={workspaces}"]
    if os.geteuid() == 0:
        lab.append("--allow-root")
    server = Server(lab, rf"http://127\.0\.0\.1:{port}/lab\?token=[0-9a-f]+", env={"NFD_QUICK": "1"})
    p, context, user_data = _browser(sync_api)
    try:
        page = context.new_page()
        url = server.url.replace("/lab?", "/lab/tree/08_explorer.ipynb?")
        page.goto(url, timeout=START_TIMEOUT * 1000)
        # The kernel's state in the status bar ("Python 3 (ipykernel) | Idle"); attached, not necessarily visible.
        kernel = page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\(ipykernel\) \| Idle"))
        kernel.first.wait_for(state="attached", timeout=START_TIMEOUT * 1000)
        BUILD.mkdir(exist_ok=True)
        page.screenshot(path=str(BUILD / "lab-08-idle.png"))
    finally:
        context.close()
        p.stop()
        shutil.rmtree(user_data, ignore_errors=True)
        shutil.rmtree(workspaces, ignore_errors=True)
        server.stop()
