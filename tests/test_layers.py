"""The architecture as a test: every facegps module belongs to one layer (its subpackage, or the foundation's or the
CLI's module at the top), imports only from its own layer or the layers below, no two modules import each other
through any chain, and a module's imports of facegps are at its head (one inside a function says why, in a comment)."""
import ast
from pathlib import Path

import facegps

PKG = Path(facegps.__file__).parent

# bottom to top; the README's Layout section draws the same. A layer is a subpackage (facegps/<layer>/), except the
# foundation and the CLI, which are modules at the top of the package.
LAYERS = ["foundation", "measure", "bench", "view", "runs", "studies", "cli"]
TOP_MODULES = {"core": "foundation", "data": "foundation", "cli": "cli"}
LEVEL = {layer: k for k, layer in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    "`facegps/measure/flow.py` -> 'measure.flow'; a subpackage's `__init__.py` -> its name ('measure')."
    parts = path.relative_to(PKG).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


FILES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))
         if "__pycache__" not in p.parts and p.name != "_modidx.py" and p != PKG / "__init__.py"}
MODULES = sorted(FILES)


def layer_of(module: str) -> str | None:
    "A module's layer: its subpackage ('measure.flow' -> 'measure'), or `TOP_MODULES`' word for a top module; None: none."
    top = module.split(".")[0]
    if "." in module or (PKG / top).is_dir(): return top if top in LEVEL and top not in TOP_MODULES else None
    return TOP_MODULES.get(module)


def _package_of(module: str) -> list:
    "The package that `module`'s relative imports start from, as parts ('measure.flow' -> ['measure']; 'measure' -> ['measure'])."
    parts = module.split(".")
    return parts if FILES[module].name == "__init__.py" else parts[:-1]


def _targets(module: str, node) -> set:
    "The facegps modules that the import statement `node` in `module` names (relative or absolute)."
    if isinstance(node, ast.Import):
        return {_known(a.name.split(".")[1:]) for a in node.names if a.name.startswith("facegps.")} - {None}
    if node.level:
        pkg = _package_of(module)
        parts = pkg[:len(pkg) - (node.level - 1)] + (node.module.split(".") if node.module else [])
    elif node.module == "facegps" or (node.module or "").startswith("facegps."):
        parts = node.module.split(".")[1:]
    else:
        return set()
    # `from .measure import flow` names a module; `from .flow import dis_flow` a name inside one
    return {".".join(parts + [a.name]) if ".".join(parts + [a.name]) in FILES else _known(parts) for a in node.names} - {None}


def _known(parts: list) -> str | None:
    "The longest leading part of `parts` that is a facegps module (None: the package itself, or nothing known)."
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in FILES: return ".".join(parts[:k])
    return None


def _imports(module: str):
    "(target module, at the head?, import line, has a comment on that line or the one above) for each facegps import."
    src = FILES[module].read_text(encoding="utf-8")
    lines, tree = src.splitlines(), ast.parse(src)
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
             for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)): continue
        said = "#" in lines[node.lineno - 1] or (node.lineno > 1 and lines[node.lineno - 2].strip().startswith("#"))
        for target in _targets(module, node):
            if target != module: yield target, id(node) not in inner, node.lineno, said


def imports_of(module: str) -> set:
    "The facegps modules `module` imports, anywhere in its source."
    return {t for t, *_ in _imports(module)}


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_module_has_a_layer():
    assert len(MODULES) > 30 and {"measure.flow", "cli", "core"} <= set(MODULES), MODULES
    assert not [m for m in MODULES if layer_of(m) is None], [m for m in MODULES if layer_of(m) is None]
    assert {"measure.flow", "core"} <= GRAPH["measure.analyze"] and "view.report" in GRAPH["runs.runner"]   # it reads them


def test_imports_only_run_downward():
    up = [f"{a} ({layer_of(a)}) imports {b} ({layer_of(b)})" for a in MODULES for b in GRAPH[a]
          if LEVEL[layer_of(b)] > LEVEL[layer_of(a)]]
    assert not up, up


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


def inner_imports_without_a_reason(modules=None) -> list:
    "'module:line imports target' for each facegps import inside a function or class with no comment saying why."
    return [f"{m}:{line} imports {t}" for m in (modules or MODULES) for t, head, line, said in _imports(m)
            if not head and not said]


def test_imports_are_at_the_head():
    "A module's facegps imports are at its head; one inside a function carries a comment (why it waits: start-up cost)."
    bad = inner_imports_without_a_reason()
    assert not bad, bad


def test_the_checks_can_fail(tmp_path):
    "A made-up graph with a cycle and an upward import, and a module with a silent inner import, are caught."
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
    made_up = tmp_path / "made_up.py"
    made_up.write_text("from ..core import FaceGPSError\n\ndef f():\n    from .flow import dis_flow\n"
                       "    # MediaPipe's start-up: only when called\n    from .video import VideoReader\n")
    FILES["measure.made_up"] = made_up
    try:
        assert imports_of("measure.made_up") == {"core", "measure.flow", "measure.video"}, imports_of("measure.made_up")
        assert inner_imports_without_a_reason(["measure.made_up"]) == ["measure.made_up:4 imports measure.flow"]
    finally: del FILES["measure.made_up"]
