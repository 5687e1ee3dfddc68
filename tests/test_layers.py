"""The architecture as a test: every facegps module belongs to one layer, imports (at its head or inside a function)
only from its own layer or the layers below, and no two modules import each other through any chain."""
import ast
from pathlib import Path

import facegps

PKG = Path(facegps.__file__).parent

# bottom to top; the README's Layout section draws the same
LAYERS = {
    "measure": ["core", "data", "video", "landmarks", "manifold", "affine", "pose", "flow", "register", "smoothing",
                "mks", "quality", "hands", "overlay", "store", "outputs", "analyze", "export"],
    "bench": ["actionunits", "bench"],
    "view": ["report", "explore", "enhance"],
    "runs": ["jobs", "batch"],
    "studies": ["identity", "ckplus", "fer_encoder", "fan", "hidden", "states", "tags"],
    "cli": ["cli"],
}
LEVEL = {m: k for k, mods in enumerate(LAYERS.values()) for m in mods}
MODULES = sorted(p.stem for p in PKG.glob("*.py") if p.stem not in ("__init__", "_modidx"))


def imports_of(module: str) -> set:
    "The facegps modules `module` imports, anywhere in its source (relative or absolute imports)."
    out = set()
    for node in ast.walk(ast.parse((PKG / f"{module}.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level == 1: out |= {name.split(".")[0]} if name else {a.name for a in node.names}
            elif name.startswith("facegps."): out.add(name.split(".")[1])
            elif name == "facegps": out |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("facegps.")}
    return (out & set(MODULES)) - {module}


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_module_has_a_layer():
    assert sorted(LEVEL) == MODULES, set(MODULES) ^ set(LEVEL)


def test_imports_only_run_downward():
    up = [f"{a} ({LAYERS_OF(a)}) imports {b} ({LAYERS_OF(b)})" for a in MODULES for b in GRAPH[a] if LEVEL[b] > LEVEL[a]]
    assert not up, up


def LAYERS_OF(m): return next(k for k, v in LAYERS.items() if m in v)


def test_no_import_cycle():
    state, cycles = {}, []
    def visit(m, path):
        state[m] = "open"
        for n in sorted(GRAPH[m]):
            if state.get(n) == "open": cycles.append(path[path.index(n):] + [n])
            elif n not in state: visit(n, path + [n])
        state[m] = "done"
    for m in MODULES:
        if m not in state: visit(m, [m])
    assert not cycles, cycles


def test_the_checks_can_fail():
    "A made-up graph with a cycle and an upward import is caught by the same logic."
    global GRAPH
    saved = GRAPH
    try:
        GRAPH = {**saved, "core": saved["core"] | {"cli"}}
        try: test_no_import_cycle()
        except AssertionError: pass
        else: raise AssertionError("a cycle through core -> cli was not caught")
        try: test_imports_only_run_downward()
        except AssertionError: pass
        else: raise AssertionError("core -> cli (upward) was not caught")
    finally: GRAPH = saved
