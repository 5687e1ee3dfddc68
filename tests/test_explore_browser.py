"""The explorer in a real browser: JupyterLab started on localhost, a notebook that builds `facegps.explore` on the
smile sample, driven by headless Chromium through Playwright (Debian's chromium; nothing downloaded). The slider and
the muscle selection must change what is drawn, and no widget error may show. The server is stopped by its pid."""
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "nbs" / "images" / "explorer.png"   # the README's picture, refreshed with FACEGPS_UPDATE_SCREENSHOT=1


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name): return shutil.which(name)
    if os.environ.get("CI"): pytest.fail("chromium is needed for the explorer browser test under CI (make browser)")
    pytest.skip("no chromium here (make browser installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def _notebook(path: Path, folder: Path):
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "explore", "metadata": {}, "outputs": [],
                     "source": [f"from facegps.view.explore import explore\n", f"app = explore(r\"{folder}\")\n", "app"]}],
          "metadata": {"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


@pytest.fixture()
def lab(tmp_path, smile):
    from facegps.measure.analyze import analyze_video
    analyze_video(smile, tmp_path / "smile", quiet=True, overlay=False)
    _notebook(tmp_path / "explore.ipynb", tmp_path / "smile")
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "FACEGPS_QUIET": "1"}
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
           f"--ServerApp.root_dir={tmp_path}", "--LabApp.news_url=", "--LabServerApp.extra_labextensions_path=[]"]
    if os.geteuid() == 0: cmd.append("--allow-root")
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2); break
            except OSError: time.sleep(0.5)
        else: pytest.fail(f"JupyterLab did not start: {(tmp_path / 'lab.log').read_text()[-2000:]}")
        yield url, tmp_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)                 # the server we started, and its kernels
        try: proc.wait(timeout=20)
        except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _png(locator) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB")).astype(int)


def _changed(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a - b).max(2) > 30).mean()) if a.shape == b.shape else 1.0


def _wait_for_idle_kernel(url: str, tmp: Path, timeout: float = 180):
    """Wait until the server says the notebook's kernel is idle (its own API, not the page's status text)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            sessions = json.load(urllib.request.urlopen(f"{url}/api/sessions", timeout=5))
        except OSError: sessions = []
        if any(s.get("path", "").endswith("explore.ipynb") and s.get("kernel", {}).get("execution_state") == "idle"
               for s in sessions): return
        time.sleep(1)
    pytest.fail(f"the notebook's kernel did not become idle in {timeout:.0f} s:\n{(tmp / 'lab.log').read_text()[-2000:]}")


def _run_first_cell(page, tmp: Path, tries: int = 4):
    """Shift+Enter in the first cell, until its prompt shows that it runs or ran (a key press can be lost while
    the page is still settling)."""
    prompt = page.locator(".jp-Notebook .jp-Cell .jp-InputArea-prompt").first
    for _ in range(tries):
        page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
        page.keyboard.press("Shift+Enter")
        for _ in range(30):
            if any(c in prompt.inner_text() for c in "*123456789"): return
            time.sleep(1)
    pytest.fail(f"the cell did not start after {tries} tries:\n{_diagnosis(page, tmp)}")


def _diagnosis(page, tmp: Path) -> str:
    """What the page and the server show, for a failure message (and a screenshot beside the test's files)."""
    try: page.screenshot(path=str(tmp / "failure.png"))
    except Exception: pass
    try: shown = page.locator(".jp-Notebook").first.inner_text()[-1500:]
    except Exception as e: shown = f"(page unreadable: {e})"
    return f"page: {shown}\nserver log: {(tmp / 'lab.log').read_text()[-1500:]}\nscreenshot: {tmp / 'failure.png'}"


def test_explorer_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright
    url, tmp = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.goto(f"{url}/lab/tree/explore.ipynb", timeout=120_000)
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
        page.wait_for_function("() => document.querySelector('.jp-Notebook') !== null")
        _wait_for_idle_kernel(url, tmp)
        _run_first_cell(page, tmp)
        img = page.locator(".jp-OutputArea-output .widget-image").first
        try:
            img.wait_for(timeout=240_000)
        except Exception:
            pytest.fail(f"the explorer's image did not show:\n{_diagnosis(page, tmp)}")
        page.wait_for_timeout(1500)
        frame0 = _png(img)
        curve = page.locator(".jp-OutputArea-output .widget-image").nth(2)
        curve0 = _png(curve)
        handle = page.locator(".jp-OutputArea-output .widget-hslider .noUi-handle, .jp-OutputArea-output .widget-slider .noUi-handle").first
        handle.focus()
        for _ in range(40): page.keyboard.press("ArrowRight")
        page.wait_for_timeout(2500)
        frame1 = _png(img)
        assert _changed(frame0, frame1) > 0.02, "the frame did not change when the slider moved"
        page.locator(".jp-OutputArea-output .widget-select-multiple select").first.select_option(label="mentalis")
        page.wait_for_timeout(2500)
        curve1 = _png(curve)
        assert _changed(curve0, curve1) > 0.005, "the curves did not change with the muscle selection"
        status = page.locator(".jp-OutputArea-output .widget-html").last.inner_text()
        assert "frame 40" in status, status
        with np.load(tmp / "smile" / "displacement.npz") as z:                     # a click on the canonical face ...
            names, D = [str(m) for m in z["muscles"]], z["descriptors"]
        target = names.index("zygomaticus_major_L")
        canon = page.locator(".jp-OutputArea-output .widget-image").nth(1)
        box = canon.bounding_box()
        canon.click(position={"x": float(D[target, 0]) * box["width"] / 256, "y": float(D[target, 1]) * box["height"] / 256})
        page.wait_for_timeout(2500)
        chosen = page.locator(".jp-OutputArea-output .widget-select-multiple select").first.evaluate(
            "s => Array.from(s.selectedOptions).map(o => o.textContent.trim())")
        assert chosen == ["zygomaticus_major_L"], chosen                                  # ... selects the nearest muscle
        assert _changed(curve1, _png(curve)) > 0.005, "the curves did not follow the click"
        text = page.locator(".jp-OutputArea").first.inner_text()
        assert "Error displaying widget" not in text and "Traceback" not in text, text[-2000:]
        shot = tmp / "explorer.png"
        page.locator(".jp-OutputArea-output").first.screenshot(path=str(shot))
        if os.environ.get("FACEGPS_UPDATE_SCREENSHOT"):
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True); shutil.copy(shot, SCREENSHOT)
        browser.close()
