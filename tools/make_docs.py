"""Build the book: every chapter of nbs/ executed (so each figure of a real face is on its page) and rendered to a
standalone HTML page that loads nothing from the network, with an index page; `make docs` writes it into _docs/.

nbdev's own `nbdev_docs` renders with Quarto, whose package on the index (`quarto-cli`) is a source archive that
downloads the Quarto binary from GitHub while it installs; offline, that cannot work, so the pages are rendered here
with nbconvert (already a dependency, through papermill), from the same notebooks.

    python tools/make_docs.py [OUT] [--only NAME ...] [--workers N]
"""
import argparse
import html
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NATIVE_LOG = re.compile(r"^(INFO: |WARNING: All log messages|[WIEF]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\]|\[(mov|h264|IPKernelApp)[^\]]*\] )")
NBS = ROOT / "nbs"

_PAGE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""   # nbconvert's lab page without require.js, MathJax, mermaid.js and widget scripts: nothing from a CDN


def chapters(only=None) -> list:
    "The chapter notebooks in book order (nbs/*.ipynb, index first), or those named in `only`."
    nbs = sorted(p for p in NBS.glob("*.ipynb"))
    nbs = [p for p in nbs if p.stem == "index"] + [p for p in nbs if p.stem != "index"]
    return [p for p in nbs if not only or p.stem in only]


def title_of(nb) -> str:
    for c in nb.cells:
        if c.cell_type == "markdown":
            for line in c.source.splitlines():
                if line.startswith("# "): return line[2:].strip()
    return ""


def build_page(path: Path, out: Path, timeout: int = 1200) -> tuple:
    "Execute the notebook at `path` (in nbs/, as nbdev_test does) and render it to `out/<name>.html`; (name, title, seconds)."
    import jinja2
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter
    t0 = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:                        # nbdev's directives are for the exporter, not for the reader
        if c.cell_type != "code": continue
        lines = c.source.splitlines()
        c.source = "\n".join(l for l in lines if not l.startswith("#|"))
        if any(l.replace(" ", "") == "#|eval:false" for l in lines):    # shown, never run (as nbdev_test does)
            c.cell_type, c.source = "markdown", f"```python\n{c.source}\n```"
            for k in ("outputs", "execution_count"): c.pop(k, None)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NBS)}}).execute()
    nb.cells = [c for c in nb.cells if c.source.strip()]
    for c in nb.cells:                        # the native libraries' log lines (MediaPipe, TFLite, FFmpeg) are noise here
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                o["text"] = "".join(l for l in o["text"].splitlines(keepends=True) if not NATIVE_LOG.match(l))
        if c.cell_type == "code": c.outputs = [o for o in c.outputs if o.get("output_type") != "stream" or o["text"].strip()]
    exporter = HTMLExporter(extra_loaders=[jinja2.DictLoader({"facegps_book.html.j2": _PAGE})],
                            template_file="facegps_book.html.j2")
    title = title_of(nb) or path.stem
    nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
    nav = ('<p style="font-family:sans-serif"><a href="index.html">facegps</a> · <a href="contents.html">chapters</a></p>')
    body = body.replace("<main>", f"<main>{nav}", 1)
    (out / f"{path.stem}.html").write_text(body)
    return path.stem, title, time.perf_counter() - t0


def build(out: Path, only=None, workers: int = 2) -> list:
    "Build the pages of `chapters(only)` into `out` (`workers` kernels at a time) and the contents page; returns (name, title, s)."
    out.mkdir(parents=True, exist_ok=True)
    todo = chapters(only)
    with ThreadPoolExecutor(workers) as pool:
        done = list(pool.map(lambda p: build_page(p, out), todo))
    for name, title, s in done: print(f"{name}: {s:.0f} s", file=sys.stderr)
    rows = "\n".join(f'<li><a href="{n}.html">{html.escape(t)}</a> <small>({n})</small></li>' for n, t, _ in done)
    (out / "contents.html").write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>facegps book</title></head>"
                                       f"<body style='font-family:sans-serif;max-width:800px;margin:2em auto'>"
                                       f"<h1>facegps: the chapters</h1><ul>{rows}</ul></body></html>")
    if not (out / "index.html").exists():
        (out / "index.html").write_text((out / "contents.html").read_text())
    return done


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(ROOT / "_docs"))
    ap.add_argument("--only", nargs="*", default=None, help="chapter names (notebook stems) to build")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    done = build(Path(a.out), a.only, a.workers)
    print(f"{len(done)} pages in {a.out}; open {Path(a.out) / 'index.html'} in a browser")
