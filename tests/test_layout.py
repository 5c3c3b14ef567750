"""The library's layout stays readable: the README's layers hold, imports sit at the top of each module, no
cycles, no module over 700 lines and no function over 100."""

import ast
import re
from pathlib import Path

import pytest
from module_map import ROOT, library_modules, module_map

LIBRARY = ROOT / "nfdlib"
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 100


def source_of(module: str) -> Path:
    path = ROOT / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def all_modules() -> list[str]:
    names = set(library_modules())
    names |= {f"nfdlib.{p.parent.name}" for p in LIBRARY.glob("*/__init__.py")}
    return sorted(names)


def imported_modules(module: str) -> list[tuple[str, bool]]:
    """``(target module, at module level?)`` for every import of an nfdlib module in ``module``'s source."""
    path = source_of(module)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    known = set(all_modules())
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if node.level else []
            target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
            targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in known else target for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for target in targets:
            if target.startswith("nfdlib"):
                found.append((target, id(node) in top))
    return found


def readme_layers() -> dict[str, int]:
    """Module (or package) -> layer, from the README's table of layers."""
    text = (ROOT / "README.md").read_text()
    layers = {}
    for number, cell in re.findall(r"^\| (\d)\. [^|]*\| (.*) \|$", text, re.M):
        cell = re.sub(r"\(.*?\)", "", cell)  # a package's modules share its layer
        for name in re.findall(r"`([a-z_]+)`", cell):
            layers[f"nfdlib.{name}"] = int(number)
    return layers


def layer_of(module: str, layers: dict[str, int]) -> int:
    parts = module.split(".")
    for i in range(len(parts), 1, -1):
        if ".".join(parts[:i]) in layers:
            return layers[".".join(parts[:i])]
    raise KeyError(module)


def test_readme_module_map_is_computed_from_the_code():
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- module-map:start -->\n(.*?)\n<!-- module-map:end -->", text, re.S)
    assert match, "README.md lost its module-map markers"
    assert match.group(1).strip() == module_map().strip(), (
        "README's module map is stale: run `python tests/module_map.py --write`")


def test_every_module_has_a_layer_in_the_readme():
    layers = readme_layers()
    missing = [m for m in all_modules() if m != "nfdlib" and not any(
        m == k or m.startswith(k + ".") for k in layers)]
    assert not missing, f"README's table of layers does not place {missing}"


@pytest.mark.parametrize("module", [m for m in all_modules() if m != "nfdlib"])
def test_imports_are_at_the_top_and_go_down_the_layers(module):
    layers = readme_layers()
    own = layer_of(module, layers)
    for target, at_top in imported_modules(module):
        if target == "nfdlib":
            continue
        assert at_top, f"{module} imports {target} inside a function: imports of nfdlib belong at the top"
        if target == module or target.startswith(module + ".") or module.startswith(target + "."):
            continue  # a package and its own modules
        assert layer_of(target, layers) <= own, (
            f"{module} (layer {own}) imports {target} (layer {layer_of(target, layers)}): imports go down the layers")


def test_no_import_cycles():
    nodes = set(all_modules())
    graph = {m: {t for t, _ in imported_modules(m) if t in nodes and t != m} for m in nodes}
    # a package imports its own modules to re-export them: that edge is not a dependency
    for m, targets in graph.items():
        graph[m] = {t for t in targets if not t.startswith(m + ".") and not m.startswith(t + ".")}
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for t in graph[m]:
            assert state.get(t) != 1, f"import cycle: {' -> '.join(path + [m, t])}"
            if t not in state:
                visit(t, path + [m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


@pytest.mark.parametrize("path", sorted(LIBRARY.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_stay_short(path):
    lines = path.read_text().count("\n")
    assert lines <= MAX_MODULE_LINES, f"{path.name}: {lines} lines (split it by idea, at most {MAX_MODULE_LINES})"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{path.name}: {node.name} has {length} lines"
