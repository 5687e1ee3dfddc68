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


def run(*args, env=None):
    return subprocess.run([FACEGPS, *map(str, args)], capture_output=True, text=True, timeout=900,
                          env=None if env is None else {**os.environ, **env})


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


def _summary(out):
    return json.loads((out / "smile" / "summary.json").read_text())


def test_report_says_what_it_shows(demo):
    """The page opens with a result: the generated paragraph names the zygomaticus as the strongest muscle above its
    noise floor, in canonical px and % IOD, and says when the smile peaks; the side convention is stated."""
    out, _ = demo
    html = (out / "smile.html").read_text()
    m = re.search(r"The strongest movement is the <strong>(.*?)</strong>(.*?)</p>", html, re.S)
    assert m, "no generated summary paragraph"
    name, rest = m.groups()
    assert name == "zygomaticus major" and "% IOD" in rest, rest
    peak = float(re.search(r"peaks at ([\d.]+) s", rest).group(1))
    assert 0.5 < peak < 2.4, rest                        # the smile is held from about 0.6 s to the end (2.4 s)
    assert "Below their noise floor" in rest and "frontalis" in rest.split("Below their noise floor")[1]
    assert "<code>_R</code> is the subject's right (image left)" in html
    assert html.count("noise floor") >= 4 and "band" in html and "% IOD" in html
    assert "reference neighbourhood" in html            # where the noise floor was measured
    # the muscle table: level in px and % IOD, the floor, integers shown as integers
    for col in ("level [px]", "level [% IOD]", "noise floor [px]", "frames left out"):
        assert f"<th>{col}</th>" in html, col
    s = _summary(out)
    assert "72 read, 72 with a face" in html and ">72.0<" not in html and s["canonical"]["iod_px"] > 80


def test_report_page_needs_no_network_and_is_titled(demo):
    """No script or stylesheet from a CDN (the page renders offline); the page title is the video's name."""
    out, _ = demo
    html = (out / "smile.html").read_text()
    assert re.search(r"<title>(.*?)</title>", html).group(1) == Path(_summary(out)["video"]).name == "single_face.mp4"
    remote = re.findall(r"<script[^>]*\ssrc=[\"']?https?:|<link[^>]*\shref=[\"']?https?:|import\([\"']https?:|"
                        r"@import\s+(?:url\()?[\"']?https?:", html, re.I)
    assert not remote, remote
    assert not re.findall(r"<script[^>]*\ssrc=", html)   # no external script at all: everything is in the page


def test_report_shows_progress(smile, tmp_path):
    """The analysis inside papermill reports its progress on the command's stderr (not in the notebook)."""
    r = run("report", smile, "-o", tmp_path, "--name", "p", "--no-overlay", "--max-frames", "20",
            env={"FACEGPS_QUIET": "0", "CI": ""})
    assert r.returncode == 0, r.stderr
    assert re.search(r"analyze single_face\.mp4: +\d+%", r.stderr), r.stderr[-2000:]
    nb = nbformat.read(tmp_path / "p.ipynb", as_version=4)
    texts = [o.get("text", "") + json.dumps(o.get("data", {})) for c in nb.cells for o in c.get("outputs", [])]
    assert not [t for t in texts if "frame/s" in t or "widget-view" in t]   # no progress bar in the notebook
    assert not list(tmp_path.glob(".*"))


def test_report_quiet_option_silences_progress(smile, tmp_path):
    "`--quiet` passes quiet=True to run_report: no progress bars, even with $FACEGPS_QUIET=0."
    r = run("report", smile, "-o", tmp_path, "--name", "q", "--no-overlay", "--max-frames", "10", "--quiet",
            env={"FACEGPS_QUIET": "0", "CI": ""})
    assert r.returncode == 0, r.stderr
    assert "frame/s" not in r.stderr, r.stderr[-2000:]


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name): return shutil.which(name)
    if os.environ.get("CI"): pytest.fail("chromium is needed for the report rendering test under CI (make browser)")
    pytest.skip("no chromium here (make browser installs it)")


def test_report_renders_in_headless_chromium(demo, tmp_path):
    """Open the HTML report in headless Chromium with the network off, take a screenshot of the page, and check the
    plots are drawn."""
    from PIL import Image
    out, _ = demo
    shot = tmp_path / "report.png"
    offline = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
    r = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync", *offline,
                        f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1200,5000",
                        f"--screenshot={shot}", (out / "smile.html").resolve().as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert shot.exists(), r.stderr
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (5000, 1200)
    non_white = (img.min(2) < 240).mean()
    saturated = ((img.max(2) - img.min(2)) > 60).mean()   # coloured plot lines, heat maps, the face images
    print(f"non-white {non_white:.1%}, saturated {saturated:.1%}")
    assert non_white > 0.10 and saturated > 0.03
    # each band of the page where the plots are has colour: the images decoded and were drawn
    bands = [((img[y:y + 600].max(2) - img[y:y + 600].min(2)) > 60).mean() for y in range(1400, 3800, 600)]
    assert min(bands) > 0.005, bands


def test_failing_report_is_the_errors_own_line_and_keeps_the_notebook(tmp_path, noface):
    r = run("report", noface, "-o", tmp_path, "--name", "noface", "--quiet", "--no-overlay")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"facegps: error: {noface}: no face in ") and "code cell" not in r.stderr, r.stderr
    assert r.stderr.rstrip().endswith(f"(the executed notebook: {tmp_path / 'noface.ipynb'})"), r.stderr
    nb = nbformat.read(tmp_path / "noface.ipynb", as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors and errors[0]["ename"] == "NoFaceError"
    assert not (tmp_path / "noface.html").exists()


def test_report_of_missing_video_is_a_clear_error(tmp_path):
    r = run("report", tmp_path / "nope.mp4", "-o", tmp_path)
    assert r.returncode == 2 and "nope.mp4: file not found" in r.stderr and not list(tmp_path.glob("*.ipynb"))


def test_a_hostile_video_name_is_text_in_its_report(tmp_path, smile, page_parts):
    """A video named with markup (an `<img onerror>`, a `<script>`), quotes, a backslash, Markdown, math, a line break
    and a byte that is not UTF-8, 250 bytes long: the report is made; nothing from the name is a live element or
    attribute; the title and the heading show the name as text (the stray byte as �); the overlay and the output
    links point to the output folder (its name cut to 240 bytes, percent-encoded), which exists."""
    from urllib.parse import unquote
    from facegps.view.report import md_url, plain_text
    from facegps.runs.runner import report_name
    raw = b"""<img src=x onerror=alert(1)> <script>alert(2)<\\script> "q" 's' *b* _i_ $x$ [l](javascript:alert(3))\n# \xff """
    video = tmp_path / os.fsdecode(raw.ljust(250 - len(".mp4"), b"x") + b".mp4")
    shutil.copy(smile, video)
    r = run("report", video, "-o", tmp_path / "out", "--quiet", "--max-frames", "20")
    assert r.returncode == 0, r.stderr
    name = report_name(video.stem)
    assert len(name.encode()) == 240 and "\ufffd" in name                  # 246 bytes once the stray byte is �
    page = (tmp_path / "out" / f"{name}.html").read_text(encoding="utf-8")
    parts = page_parts(page)
    assert not parts.live, parts.live
    assert "<img src=x" not in page and "<script>alert" not in page and "onerror=alert(1)>" not in page
    shown = plain_text(video.name)
    assert parts.title == shown and parts.h1[0] == shown and "\ufffd" in shown and "\n" not in shown
    links = [a["href"] for t, a in parts.tags if t == "a" and a.get("href", "").endswith(".json")]
    videos = [a.get("src") for t, a in parts.tags if t == "video"]
    assert links == [md_url(name) + "/summary.json"] and videos == [md_url(name) + "/overlay.mp4"], (links, videos)
    assert unquote(videos[0]) == f"{name}/overlay.mp4" and (tmp_path / "out" / name / "overlay.mp4").is_file()
    assert page.count("data:image/png;base64") >= 5 and "What this shows" in page   # the rest of the page is whole


def test_render_html_sanitizes_every_page(tmp_path, page_parts):
    """`render_html`, which every page goes through (report, states, tags, studies), on a notebook whose outputs carry
    raw markup as a template that forgot the helpers would make it: scripts, handlers, `javascript:` links, remote
    images, frames and style blocks are gone, the report's elements (headings, tables, links, details, a local video,
    plots) stay, and a title with markup and a byte that is not UTF-8 is text."""
    from facegps.runs.runner import render_html
    hostile = '<img src=x onerror=alert(1)><script>alert(2)</script><svg onload=alert(3)></svg>'
    nb = nbformat.v4.new_notebook()
    out = lambda mime, text: nbformat.v4.new_output("display_data", data={mime: text})
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    nb.cells = [nbformat.v4.new_markdown_cell(f"# Heading {hostile}\n\n[j](javascript:alert(4)) <iframe src=x></iframe>"),
                nbformat.v4.new_code_cell(outputs=[
                    out("text/markdown", f"## {hostile} [ok](folder/summary.json)"),
                    out("text/html", f'<table><tr><th>a</th><td style="text-align: left">{hostile}</td></tr></table>'
                                     '<details><summary>s</summary><pre>p</pre></details><img src="https://t.example/p.png">'
                                     '<style>body {background: url(https://t.example/b)}</style>'
                                     '<video src="folder/overlay.mp4" controls></video>'),
                    out("image/png", png),
                    nbformat.v4.new_output("display_data", data={"text/plain": "analyze <img src=y>: 100%",
                        "application/vnd.jupyter.widget-view+json": {"model_id": "m1", "version_major": 2}})])]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"m1": {"value": hostile}}}}
    nbformat.write(nb, tmp_path / "n.ipynb")
    page = render_html(tmp_path / "n.ipynb", tmp_path / "n.html", title=os.fsdecode(b"<b>t</b>\xff")).read_text(encoding="utf-8")
    parts = page_parts(page)
    assert not parts.live and "alert(" not in page.replace("alert(1)&gt;", "") and "t.example" not in page, parts.live
    assert parts.title == "<b>t</b>\ufffd"
    kept = [t for t, _ in parts.tags]
    assert {"h1", "h2", "table", "th", "td", "details", "summary", "pre", "video"} <= set(kept)
    assert ("a", {"href": "folder/summary.json"}) in parts.tags and 'style="text-align: left;"' in page
    assert page.count('src="data:image/png;base64,') == 1 and "<iframe" not in page
    assert "<script" not in page and "widget-state" not in page and "analyze &lt;img src=y&gt;: 100%" in page  # its text
