"""The book: `make docs` executes the chapters and renders them; here the analysis chapter, whose page must carry its
figures (real PNG images of a real face) and load nothing from the network."""
import re
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def test_the_analysis_chapter_page_has_its_figures(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "make_docs.py"), str(tmp_path), "--only", "11_analyze"],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    page = (tmp_path / "11_analyze.html").read_text()
    figures = re.findall(r'<img[^>]+src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    plotting = sum("plt." in "".join(c["source"]) for c in nbformat.read(ROOT / "nbs" / "11_analyze.ipynb", 4).cells
                   if c.cell_type == "code")
    assert plotting >= 1 and len(figures) >= plotting, (len(figures), plotting)
    assert all(len(f) > 20_000 for f in figures)                     # real figures, not empty placeholders
    assert "The Face-GPS analysis" in page or "<h1" in page
    assert not re.search(r'(src|href)="https?://', page), "the page loads something from the network"
    assert "#| export" not in page and "11_analyze.html" in (tmp_path / "contents.html").read_text()
