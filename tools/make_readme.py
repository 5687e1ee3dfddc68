"""Write README.md from nbs/index.ipynb (markdown cells as they are, code cells as fenced Python).

nbdev_readme needs Quarto; this keeps README.md generated from the same notebook without it.
`python tools/make_readme.py --check` exits 1 when README.md is out of date."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def render(nb_path: Path = ROOT / "nbs" / "index.ipynb") -> str:
    cells = json.loads(nb_path.read_text())["cells"]
    parts = ["<!-- generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, then `make readme` -->"]
    for c in cells:
        lines = "".join(c["source"]).splitlines()
        src = "\n".join(l for l in lines if not l.startswith("#|")).strip()
        if not src or "default_exp" in "".join(c["source"]):
            continue
        parts.append(src if c["cell_type"] == "markdown" else f"```python\n{src}\n```")
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    text, readme = render(), ROOT / "README.md"
    if "--check" in sys.argv:
        sys.exit(0 if readme.exists() and readme.read_text() == text else 1)
    readme.write_text(text)
