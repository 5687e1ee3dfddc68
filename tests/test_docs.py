"""The book: `make docs` executes the chapters and renders them; here the analysis chapter, whose page must carry its
figures (real PNG images of a real face) and load nothing from the network, and the MKS chapter, whose formulas must
be MathML (no MathJax offline), not TeX between dollar signs."""
import re
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def test_the_analysis_chapter_page_has_its_figures(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "make_docs.py"), str(tmp_path), "--only", "measure/15_analyze"],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    page = (tmp_path / "measure/15_analyze.html").read_text()
    figures = re.findall(r'<img[^>]+src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    plotting = sum("plt." in "".join(c["source"]) for c in nbformat.read(ROOT / "nbs" / "measure/15_analyze.ipynb", 4).cells
                   if c.cell_type == "code")
    assert plotting >= 1 and len(figures) >= plotting, (len(figures), plotting)
    assert all(len(f) > 20_000 for f in figures)                     # real figures, not empty placeholders
    assert "The Face-GPS analysis" in page or "<h1" in page
    assert not re.search(r'(src|href)="https?://', page), "the page loads something from the network"
    assert "#| export" not in page and "measure/15_analyze.html" in (tmp_path / "contents.html").read_text()


def test_the_mks_chapter_formulas_render_as_mathml(tmp_path):
    """The book's formulas are MathML, drawn by the browser (no MathJax from the network): the MKS chapter's formulas,
    among them its kernel, render as `<math>` elements and none is left between dollar signs. Rendered without running
    the chapter (`--no-execute`: the text and formulas are what is checked, in a few seconds)."""
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "make_docs.py"), str(tmp_path), "--only", "measure/09_mks",
                        "--no-execute"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "formula left as TeX" not in r.stderr, r.stderr[-3000:]
    page = (tmp_path / "measure/09_mks.html").read_text()
    markdown = "\n".join(c.source for c in nbformat.read(ROOT / "nbs" / "measure/09_mks.ipynb", 4).cells if c.cell_type == "markdown")
    assert "$$k_i(x) = " in markdown                                 # the kernel, the formula this test looks for
    display = re.findall(r'<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">(.*?)</math>', page, re.S)
    assert len(display) >= markdown.count("$$") // 2 >= 1, (len(display), markdown.count("$$"))
    assert any("<msub><mi>k</mi><mi>i</mi></msub>" in m and "&#x003B3;" in m for m in display)   # k_i ... γ
    assert page.count("<math") >= markdown.count("$") // 2 - markdown.count("$$") // 2
    prose = re.sub(r"<(pre|code|script|style)\b.*?</\1>", "", page, flags=re.S)    # code may hold a `$`; text may not
    assert "$" not in prose and r"\exp" not in prose and r"\lVert" not in prose
    assert not re.search(r'(src|href)="https?://', page), "the page loads something from the network"


def test_only_formulas_become_mathml():
    "Dollar signs that are not math stay as they are: prices, shell variables, code spans and fenced code, `\\$`."
    sys.path.insert(0, str(ROOT / "tools"))
    from make_docs import math_to_tokens, tokens_to_mathml
    formulas = []
    md = ("A price of $5 and $10, `$CI` in code, $HOME/$PATH, \\$3, and $x$-axis with $$a^2 + b^2$$.\n\n"
          "```bash\necho $HOME $y$\n```\n")
    out = math_to_tokens(md, formulas)
    assert len(formulas) == 2 and formulas[1].startswith('<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">')
    for kept in ("$5 and $10", "`$CI`", "$HOME/$PATH", "\\$3", "echo $HOME $y$"): assert kept in out, kept
    html = tokens_to_mathml(f'<h2 id="{out[out.index("FGPSMATH"):][:14]}">{out}</h2>', formulas)
    assert html.count("<math") == 2 and html.startswith('<h2 id="math">')   # a token inside a tag becomes plain text
