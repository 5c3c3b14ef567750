"""The README's map of nfdlib, computed from the code: one row per module, what it holds (the first sentence of
its docstring) and which notebooks use it (the names each notebook imports from nfdlib, traced to the module that
defines them). ``tests/test_readme.py`` fails when README.md differs from it; ``python tests/module_map.py
--write`` rewrites the table between the README's ``module-map`` markers.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import pkgutil
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- module-map:start -->", "<!-- module-map:end -->"


def library_modules() -> list[str]:
    """Every module of nfdlib that defines something (package ``__init__`` files that only re-export are left
    out), in import-path order."""
    import nfdlib

    names = []
    for info in pkgutil.walk_packages(nfdlib.__path__, "nfdlib."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        names.append(info.name)
    return sorted(names)


def first_sentence(module_name: str) -> str:
    """The first sentence of a module's docstring, on one line."""
    doc = importlib.import_module(module_name).__doc__ or ""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    match = re.match(r"(.+?[.!?])(\s|$)", paragraph)
    sentence = match.group(1) if match else paragraph
    return sentence.replace("|", "\\|")


def _home(obj, fallback: str) -> str:
    """The module that defines ``obj`` (a module is its own home)."""
    if isinstance(obj, type(sys)):
        return obj.__name__
    home = getattr(obj, "__module__", None)
    return home if isinstance(home, str) and home.startswith("nfdlib") else fallback


def _resolve(path: str) -> str | None:
    """The home module of a dotted name under nfdlib (``nfdlib.scaling.fit_law`` -> ``nfdlib.scaling.laws``)."""
    parts = path.split(".")
    obj, i = importlib.import_module(parts[0]), 1
    current = parts[0]
    while i < len(parts):
        try:
            obj = getattr(obj, parts[i]) if hasattr(obj, parts[i]) else importlib.import_module(
                f"{current}.{parts[i]}")
        except ImportError:
            return None
        current = f"{current}.{parts[i]}"
        i += 1
        if not isinstance(obj, type(sys)):
            break
    return _home(obj, current)


def notebook_uses(source: str) -> set[str]:
    """The nfdlib modules whose names a notebook source uses: imported names and attributes of imported modules."""
    tree = ast.parse(source)
    bound: dict[str, str] = {}  # local name -> dotted path under nfdlib
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("nfdlib"):
                    bound[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else "nfdlib"
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nfdlib"):
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = []
            inner = node
            while isinstance(inner, ast.Attribute):
                chain.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name) and inner.id in bound:
                used.add(".".join([bound[inner.id], *reversed(chain)]))
        elif isinstance(node, ast.Name) and node.id in bound:
            used.add(bound[node.id])
    homes = set()
    for path in used:
        home = _resolve(path)
        if home is not None and home != "nfdlib":
            homes.add(home)
    return homes


def module_map() -> str:
    """The README table: module, what it holds, notebooks that use it."""
    usage: dict[str, list[str]] = {}
    for source in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        for home in notebook_uses(source.read_text()):
            usage.setdefault(home, []).append(source.name[:2])
    lines = ["| module | what it holds | notebooks |", "|---|---|---|"]
    modules = library_modules()
    for name in modules:
        # a package row counts the notebooks of its modules too
        users = {nb for other in modules if other == name or other.startswith(name + ".")
                 for nb in usage.get(other, [])}
        notebooks = ", ".join(sorted(users)) or "(library only)"
        lines.append(f"| `{name}` | {first_sentence(name)} | {notebooks} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the table in README.md")
    args = parser.parse_args(argv)
    table = module_map()
    if not args.write:
        print(table)
        return
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"README.md has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{table}\n{END}{tail}")


if __name__ == "__main__":
    main()
