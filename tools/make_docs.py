"""Build the book: every chapter of nbs/ executed (so each figure of a real face is on its page) and rendered to a
standalone HTML page that loads nothing from the network, with an index page; `make docs` writes it into _docs/.

nbdev's own `nbdev_docs` renders with Quarto, whose package on the index (`quarto-cli`) is a source archive that
downloads the Quarto binary from GitHub while it installs; offline, that cannot work, so the pages are rendered here
with nbconvert (already a dependency, through papermill), from the same notebooks.

Formulas: nbconvert leaves `$...$` and `$$...$$` for MathJax, which a page that loads nothing from the network cannot
have; so the TeX in markdown cells is converted to MathML (which browsers draw themselves) by `latex2mathml` while the
page is built: only well-formed pairs in markdown text, never in code spans or fenced code, so that a `$CI` or a price
stays as it is. The pages mirror nbs/'s folders (`nbs/measure/07_flow.ipynb` -> `measure/07_flow.html`); links to
the chapters (`nbs/SUB/NAME.ipynb` from the repository's root, as README's notebook writes them, or relative to the
chapter's own folder) point to their pages, and images in `nbs/images/` are embedded, so that the index page works in
the book too.

    python tools/make_docs.py [OUT] [--only NAME ...] [--workers N] [--no-execute]
"""
import argparse
import html
import posixpath
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NATIVE_LOG = re.compile(r"^(INFO: |WARNING: All log messages|[WIEF]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\]|\[(mov|h264|IPKernelApp)[^\]]*\] )")
NBS = ROOT / "nbs"
SECTIONS = ("measure", "bench", "view", "runs", "studies")   # nbs/'s chapter folders, the layers bottom to top

_PAGE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""   # nbconvert's lab page without require.js, MathJax, mermaid.js and widget scripts: nothing from a CDN


FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
MATH_TOKEN = "FGPSMATH{:05d}X"                 # letters and digits only: Markdown leaves it as it is
MATH_TOKEN_RE = re.compile(r"<[^>]*>|FGPSMATH(\d{5})X")


def _escaped(s: str, i: int) -> bool:
    "Whether the character at `i` is escaped by an odd number of backslashes before it."
    n = 0
    while i - n - 1 >= 0 and s[i - n - 1] == "\\": n += 1
    return n % 2 == 1


def _math_spans(text: str) -> list:
    """The TeX formulas of a piece of Markdown text with no code in it: (start, end, tex, display) for each well-formed
    `$$...$$` (display) and `$...$` (inline). Inline math follows Pandoc's rule, a little stricter: the opening `$`
    has a non-space character right after it, the closing one a non-space character right before it and no letter,
    digit or `_` right after it, so `$5 and $10`, `$HOME` and `$HOME/$PATH` are not math; no formula runs over a blank
    line; `\\$` is a dollar sign."""
    spans, i, n = [], 0, len(text)
    while i < n:
        if text[i] != "$" or _escaped(text, i):
            i += 1; continue
        if text.startswith("$$", i):
            j = text.find("$$", i + 2)
            while j != -1 and _escaped(text, j): j = text.find("$$", j + 1)
            tex = text[i + 2:j] if j != -1 else ""
            if j != -1 and tex.strip() and "\n\n" not in tex.replace(" ", ""):
                spans.append((i, j + 2, tex.strip(), True)); i = j + 2
            else: i += 2
            continue
        j = i + 1
        while j < n and (text[j] != "$" or _escaped(text, j)): j += 1
        tex = text[i + 1:j]
        ok = (j < n and tex and not tex[0].isspace() and not tex[-1].isspace() and "\n\n" not in tex
              and not (j + 1 < n and (text[j + 1].isalnum() or text[j + 1] == "_")) and not text.startswith("$$", j))
        if ok: spans.append((i, j + 1, tex, False)); i = j + 1
        else: i += 1
    return spans


def _code_spans(text: str) -> list:
    "(start, end) of every inline code span of a piece of Markdown text (a run of n backticks up to the next run of n)."
    spans, runs = [], [(m.start(), m.end()) for m in re.finditer(r"`+", text)]
    k = 0
    while k < len(runs):
        a, b = runs[k]
        close = next((r for r in runs[k + 1:] if r[1] - r[0] == b - a), None)
        if close is None: k += 1; continue
        spans.append((a, close[1])); k = runs.index(close) + 1
    return spans


_TEX_FIXES = [   # what latex2mathml 3.81 writes out as text, said in a way it reads
    (re.compile(r"\\bigl\\\|"), r"\\lVert "), (re.compile(r"\\bigr\\\|"), r"\\rVert "), (re.compile(r"\\\|"), r"\\Vert "),
    (re.compile(r"\\operatorname\{"), r"\\mathrm{"), (re.compile(r"\\arg(?![A-Za-z])"), r"\\mathrm{arg}"),
    (re.compile(r"\\text\{([^{}]*)\}"), lambda m: r"\text{" + re.sub(r"\\([_%&#$])", r"\1", m.group(1)) + "}"),
]


def _tex_to_mathml(tex: str, display: bool) -> str:
    "The MathML of one TeX formula (latex2mathml), `display` as a block."
    from latex2mathml.converter import convert
    for pattern, repl in _TEX_FIXES: tex = pattern.sub(repl, tex)
    return convert(tex, display="block" if display else "inline")


def math_to_tokens(md: str, formulas: list) -> str:
    """`md` (a markdown cell's source) with each formula outside code replaced by a token that Markdown leaves alone;
    the formula's MathML is appended to `formulas` (the token's number is its index), for `tokens_to_mathml`. A formula
    latex2mathml cannot read stays as TeX."""
    out, block, fenced = [], [], None

    def flush():
        text = "".join(block); block.clear()
        pieces, pos = [], 0
        for a, b in _code_spans(text) + [(len(text), len(text))]:
            plain = text[pos:a]
            last = 0
            for s, e, tex, display in _math_spans(plain):
                try: mathml = _tex_to_mathml(tex, display)
                except Exception as err:          # latex2mathml's errors have no common base class
                    print(f"make_docs: formula left as TeX ({type(err).__name__}: {err}): {tex[:80]}", file=sys.stderr)
                    continue
                pieces.append(plain[last:s]); pieces.append(MATH_TOKEN.format(len(formulas))); formulas.append(mathml)
                last = e
            pieces.append(plain[last:]); pieces.append(text[a:b]); pos = b
        out.append("".join(pieces))

    for line in md.splitlines(keepends=True):
        m = FENCE.match(line)
        if fenced is None and m:
            flush(); fenced = m.group(1); out.append(line)
        elif fenced is not None:
            out.append(line)
            if re.match(r"^\s*" + re.escape(fenced[0]) + "{" + str(len(fenced)) + r",}\s*$", line): fenced = None
        else:
            block.append(line)
    flush()
    return "".join(out)


def tokens_to_mathml(html_text: str, formulas: list) -> str:
    "The page with each formula token replaced by its MathML (inside a tag, e.g. a heading's id, by `math`)."
    def sub(m):
        if m.group(1) is None: return re.sub(r"FGPSMATH\d{5}X", "math", m.group(0))
        return formulas[int(m.group(1))]
    return MATH_TOKEN_RE.sub(sub, html_text)


def book_links(md: str, here: str = "") -> str:
    """Links of a notebook in nbs/`here` (a folder of nbs/; '' for nbs/ itself) made to work in the book: chapters to
    their pages, `nbs/images/` to the book's `images/`, both relative to the page's folder. A link that starts with
    `nbs/` is read from the repository's root (as README's notebook writes them), any other from the notebook's folder."""
    def rel(path): return posixpath.relpath(path, here or ".")
    def page(m):
        target = m.group(1)
        path = target[4:] if target.startswith("nbs/") else posixpath.normpath(posixpath.join(here, target))
        return f"]({rel(path)}.html{m.group(2) or ''})"
    md = re.sub(r"\]\(((?!https?:)[\w./-]+)\.ipynb(#[^)]*)?\)", page, md)
    return md.replace("](nbs/images/", f"]({rel('images')}/")


def page_name(path: Path) -> str:
    "A chapter's page, as its path in nbs/ without the suffix (`measure/07_flow`)."
    return path.relative_to(NBS).with_suffix("").as_posix()


def chapters(only=None) -> list:
    """The chapter notebooks in book order, or those named in `only` (by `page_name` or stem): the index, nbs/'s
    numbered chapters below the layers (00_core, 01_data), each folder of `SECTIONS` (then any other, not those that
    start with `_` or `.`, e.g. the papermill templates in `_reports/`), the numbered chapters above them (the CLI),
    then the rest (method, benchmarks)."""
    top = sorted(NBS.glob("*.ipynb"))
    folders = [d for d in sorted(NBS.iterdir(), key=lambda d: (d.name not in SECTIONS, SECTIONS.index(d.name)
                                                                if d.name in SECTIONS else 0, d.name))
               if d.is_dir() and not d.name.startswith(("_", "."))]
    numbered = [p for p in top if p.stem[:2].isdigit()]
    below = [p for p in numbered if int(p.stem[:2]) < 90]
    nbs = ([p for p in top if p.stem == "index"] + below + [p for d in folders for p in sorted(d.glob("*.ipynb"))]
           + [p for p in numbered if p not in below] + [p for p in top if p.stem != "index" and p not in numbered])
    return [p for p in nbs if not only or page_name(p) in only or p.stem in only]


def title_of(nb) -> str:
    for c in nb.cells:
        if c.cell_type == "markdown":
            for line in c.source.splitlines():
                if line.startswith("# "): return line[2:].strip()
    return ""


def build_page(path: Path, out: Path, timeout: int = 1200, execute: bool = True) -> tuple:
    """Execute the notebook at `path` (in its own folder, as nbdev_test does; not when `execute` is false, or when it
    has no code) and render it to `out/<page_name>.html`, formulas as MathML; (name, title, seconds)."""
    import jinja2
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter
    t0 = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    name, here = page_name(path), path.parent.relative_to(NBS).as_posix().strip(".")
    title = title_of(nb) or path.stem
    formulas = []                             # MathML of the markdown cells' formulas, by token number
    for c in nb.cells:
        if c.cell_type == "markdown": c.source = math_to_tokens(book_links(c.source, here), formulas)
    for c in nb.cells:                        # nbdev's directives are for the exporter, not for the reader
        if c.cell_type != "code": continue
        lines = c.source.splitlines()
        c.source = "\n".join(l for l in lines if not l.startswith("#|"))
        if any(l.replace(" ", "") == "#|eval:false" for l in lines):    # shown, never run (as nbdev_test does)
            c.cell_type, c.source = "markdown", f"```python\n{c.source}\n```"
            for k in ("outputs", "execution_count"): c.pop(k, None)
    if execute and any(c.cell_type == "code" for c in nb.cells):
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    nb.cells = [c for c in nb.cells if c.source.strip()]
    for c in nb.cells:                        # the native libraries' log lines (MediaPipe, TFLite, FFmpeg) are noise here
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                o["text"] = "".join(l for l in o["text"].splitlines(keepends=True) if not NATIVE_LOG.match(l))
        if c.cell_type == "code": c.outputs = [o for o in c.outputs if o.get("output_type") != "stream" or o["text"].strip()]
    exporter = HTMLExporter(extra_loaders=[jinja2.DictLoader({"facegps_book.html.j2": _PAGE})],
                            template_file="facegps_book.html.j2", embed_images=True)
    nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem, "path": str(path.parent)}})
    body = tokens_to_mathml(body, formulas)
    up = "../" * name.count("/")
    nav = (f'<p style="font-family:sans-serif"><a href="{up}index.html">facegps</a> · '
           f'<a href="{up}contents.html">chapters</a></p>')
    body = body.replace("<main>", f"<main>{nav}", 1)
    page = out / f"{name}.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(body)
    return name, title, time.perf_counter() - t0


def build(out: Path, only=None, workers: int = 2, execute: bool = True) -> list:
    """Build the pages of `chapters(only)` into `out` (`workers` kernels at a time; executed unless `execute` is false)
    and the contents page; returns (name, title, s)."""
    out.mkdir(parents=True, exist_ok=True)
    todo = chapters(only)
    with ThreadPoolExecutor(workers) as pool:
        done = list(pool.map(lambda p: build_page(p, out, execute=execute), todo))
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
    ap.add_argument("--only", nargs="*", default=None,
                    help="chapters to build, by page name (measure/07_flow) or notebook stem (07_flow)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-execute", dest="execute", action="store_false",
                    help="render the notebooks as they are, without running them (quick: text and formulas only)")
    a = ap.parse_args()
    done = build(Path(a.out), a.only, a.workers, a.execute)
    print(f"{len(done)} pages in {a.out}; open {Path(a.out) / 'index.html'} in a browser")
