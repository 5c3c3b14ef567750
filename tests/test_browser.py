"""The explorer in a real browser, driven by headless Chromium through Playwright: served alone by `make explore`
(Voila), and run as most readers run it, in JupyterLab. In both a keyboard move of the depth slider must redraw
the figure.

Run by `make test-browser` (part of `make test`). Skipped, with the reason printed, only where Chromium or
Playwright is missing; `.ci/run` installs both. Screenshots before and after each slider move are written to
build/.
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


def _contents(paths) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in paths}


def _move_depth_slider_and_check_redraw(page, image, shot: str) -> None:
    """Press the right arrow on the depth slider's handle (L doubles) and assert that the figure changed."""
    before_src = image.get_attribute("src")
    before_png = image.screenshot()
    page.screenshot(path=str(BUILD / f"{shot}-before.png"), full_page=True)
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
    page.screenshot(path=str(BUILD / f"{shot}-after.png"), full_page=True)
    assert int(readout_after) == 2 * int(readout_before), (readout_before, readout_after)
    assert before_png != after_png, "the figure did not change after the slider move"
    status = page.locator(".nfd-live").first.inner_text()
    assert f"L = {readout_after}" in status and "last update" in status, status
    assert _error_texts(page) == [], _error_texts(page)


def test_explorer_app_redraws_after_a_keyboard_slider_move():
    sync_api = _require_browser()
    BUILD.mkdir(exist_ok=True)
    port = _free_port()
    server = Server(["make", "--no-print-directory", "explore", f"EXPLORE_PORT={port}"],
                    rf"http://127\.0\.0\.1:{port}/\?token=[0-9a-f]+", env={"NFD_QUICK": "1"})
    p, context, user_data = _browser(sync_api)
    try:
        page = context.new_page()
        start = time.time()
        page.goto(server.url, timeout=START_TIMEOUT * 1000)
        image = page.locator(".nfd-live img").first
        image.wait_for(state="visible", timeout=START_TIMEOUT * 1000)
        page.wait_for_function("() => document.querySelector('.nfd-live img').naturalWidth > 100",
                               timeout=START_TIMEOUT * 1000)
        print(f"Voila showed the explorer {time.time() - start:.1f} s after the request")
        status = page.locator(".nfd-live").first.inner_text()
        assert "device" in status and "last update" in status, status
        # The app computes no answer before it is asked: every experiment shows a button instead.
        buttons = page.get_by_role("button", name="Compute the answer")
        assert buttons.count() >= 6, buttons.count()
        assert page.get_by_text("Under depth-μP, rms").count() == 0
        _move_depth_slider_and_check_redraw(page, image, "explorer")
        buttons.first.click()  # experiment 1's answer, computed on demand
        page.get_by_text("Answer", exact=True).first.wait_for(state="attached", timeout=120_000)
        assert buttons.count() >= 5 and _error_texts(page) == [], _error_texts(page)
    finally:
        context.close()
        p.stop()
        shutil.rmtree(user_data, ignore_errors=True)
        server.stop()


def test_notebook_08_explorer_runs_and_redraws_in_jupyterlab():
    """Open notebook 08 in JupyterLab, run the cells up to the explorer, move the depth slider there."""
    sync_api = _require_browser()
    port = _free_port()
    workspaces = tempfile.mkdtemp(prefix="nfd-lab-workspaces-")
    # A copy: JupyterLab saves a notebook whose cells ran, and the committed one must stay without outputs.
    folder = tempfile.mkdtemp(prefix="nfd-lab-notebooks-")
    shutil.copy(ROOT / "notebooks" / "08_explorer.ipynb", folder)
    committed = _contents([ROOT / "notebooks" / "08_explorer.ipynb", ROOT / "notebooks" / "08_explorer.py"])
    # expose_app_in_browser: window.jupyterapp, to run cells through JupyterLab's own commands.
    lab = [str(ROOT / ".venv" / "bin" / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--notebook-dir={folder}", f"--LabApp.workspaces_dir={workspaces}", "--LabApp.expose_app_in_browser=True"]
    if os.geteuid() == 0:
        lab.append("--allow-root")
    server = Server(lab, rf"http://127\.0\.0\.1:{port}/lab\?token=[0-9a-f]+", env={"NFD_QUICK": "1"})
    p, context, user_data = _browser(sync_api)
    try:
        BUILD.mkdir(exist_ok=True)
        page = context.new_page()
        url = server.url.replace("/lab?", "/lab/tree/08_explorer.ipynb?")
        page.goto(url, timeout=START_TIMEOUT * 1000)
        # The kernel's state in the status bar ("Python 3 (ipykernel) | Idle"); attached, not necessarily visible.
        kernel = page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\(ipykernel\) \| Idle"))
        kernel.first.wait_for(state="attached", timeout=START_TIMEOUT * 1000)
        # Select the explorer's cell, run every cell above it, then the cell itself.
        index = page.evaluate("""() => {
            const notebook = window.jupyterapp.shell.currentWidget.content;
            const i = notebook.widgets.findIndex(c => c.model.sharedModel.getSource().includes("widgets.explorer("));
            notebook.activeCellIndex = i;
            return i;
        }""")
        assert index > 0, "no cell of notebook 08 creates the explorer"
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-above')")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
        image = page.locator(".nfd-live img").first
        image.wait_for(state="visible", timeout=START_TIMEOUT * 1000)
        page.wait_for_function("() => document.querySelector('.nfd-live img').naturalWidth > 100",
                               timeout=START_TIMEOUT * 1000)
        _move_depth_slider_and_check_redraw(page, image, "lab-08")
        assert _contents(committed) == committed, "the test changed the committed notebook"
    finally:
        context.close()
        p.stop()
        shutil.rmtree(user_data, ignore_errors=True)
        shutil.rmtree(workspaces, ignore_errors=True)
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
