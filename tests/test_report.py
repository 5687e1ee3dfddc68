"""`facegps demo` / `facegps report`: the papermill report of a video, rendered to HTML and opened in a browser."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

import facegps

FACEGPS = str(Path(sys.executable).parent / "facegps")


def run(*args):
    return subprocess.run([FACEGPS, *map(str, args)], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The README's main job: the report of the smile sample."""
    out = tmp_path_factory.mktemp("reports")
    r = run("demo", "-o", out, "--quiet")
    assert r.returncode == 0, r.stderr
    return out, r


def test_demo_writes_report_notebook_and_analysis(demo):
    out, r = demo
    assert (out / "smile.html").is_file() and (out / "smile.ipynb").is_file()
    assert "smile.html" in r.stdout  # says where to open it
    assert sorted(p.name for p in (out / "smile").iterdir()) == ["displacement.npz", "frames.parquet", "overlay.mp4",
                                                                 "summary.json"]
    s = json.loads((out / "smile" / "summary.json").read_text())
    assert s["frames_read"] == s["frames_with_face"] == 72 and s["facegps_version"] == facegps.__version__
    assert not list(out.glob(".*"))  # no partial files left behind


def test_report_shows_the_smile(demo):
    """The executed notebook has every section's plot, and its tables say the smile muscles moved most."""
    out, _ = demo
    nb = nbformat.read(out / "smile.ipynb", as_version=4)
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    pngs = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(pngs) >= 5  # head pose, activations, activation map, heat map, key frames
    html = (out / "smile.html").read_text()
    assert html.count("data:image/png;base64") >= 5 and 'src="smile/overlay.mp4"' in html
    assert "W0000" not in html  # native log lines are kept out of the report
    # the muscle summary table: strongest first; the smile muscles lead, the brows trail
    rows = re.findall(r"<th>(\w+)</th>\s*<td>([\d.]+)</td>", html)
    muscles = [m for m, _ in rows if m in json.loads((out / "smile" / "summary.json").read_text())["muscles"]]
    assert muscles[0].startswith(("zygomaticus_major", "risorius")), muscles
    assert muscles.index("frontalis_L") > 8 and muscles.index("frontalis_R") > 8, muscles


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name): return shutil.which(name)
    if os.environ.get("CI"): pytest.fail("chromium is needed for the report rendering test under CI (make browser)")
    pytest.skip("no chromium here (make browser installs it)")


def test_report_renders_in_headless_chromium(demo, tmp_path):
    """Open the HTML report in headless Chromium, take a screenshot of the page, and check the plots are drawn."""
    from PIL import Image
    out, _ = demo
    shot = tmp_path / "report.png"
    r = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1200,4200",
                        f"--screenshot={shot}", (out / "smile.html").resolve().as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert shot.exists(), r.stderr
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (4200, 1200)
    non_white = (img.min(2) < 240).mean()
    saturated = ((img.max(2) - img.min(2)) > 60).mean()   # coloured plot lines, heat maps, the face images
    print(f"non-white {non_white:.1%}, saturated {saturated:.1%}")
    assert non_white > 0.10 and saturated > 0.03
    # each band of the page where the plots are has colour: the images decoded and were drawn
    bands = [((img[y:y + 600].max(2) - img[y:y + 600].min(2)) > 60).mean() for y in range(1200, 3600, 600)]
    assert min(bands) > 0.01, bands


def test_failing_report_keeps_the_error_and_names_the_cell(tmp_path, noface):
    r = run("report", noface, "-o", tmp_path, "--name", "noface", "--quiet", "--no-overlay")
    assert r.returncode == 2
    assert "report failed in code cell" in r.stderr and "NoFaceError" in r.stderr and "no face" in r.stderr, r.stderr
    nb = nbformat.read(tmp_path / "noface.ipynb", as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors and errors[0]["ename"] == "NoFaceError"
    assert not (tmp_path / "noface.html").exists()


def test_report_of_missing_video_is_a_clear_error(tmp_path):
    r = run("report", tmp_path / "nope.mp4", "-o", tmp_path)
    assert r.returncode == 2 and "nope.mp4: file not found" in r.stderr and not list(tmp_path.glob("*.ipynb"))
