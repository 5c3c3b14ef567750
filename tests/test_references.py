"""Every reference in the library, the notebooks, README.md and docs/ points at something in this repository.

The repository must stand on its own: a reader cannot follow "see DIGEST 2.2" or "../shared/paper/...". Each
file is checked for
* names of documents that are not part of the repository (the project's private notes);
* paths into the repository (``docs/x.md``, ``notebooks/NN_name.ipynb``, ``nfdlib/x.py``, ...) that do not exist;
* markdown links to relative targets that do not exist, and anchors into a markdown file that match none of its
  headings (GitHub's rule for heading anchors);
* modules ``nfdlib.x`` that do not exist;
* claim labels (``R4``) that are not in the claims table of docs/reconstruction.md, section 7.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECONSTRUCTION = ROOT / "docs" / "reconstruction.md"

# Files that still fail and belong to work in progress elsewhere. Each is a strict xfail: once the file is fixed
# the test passes unexpectedly and fails, so remove its name here. Keep this list empty when you can.
KNOWN_DANGLING: set[str] = set()


def _sources() -> list[Path]:
    files = sorted((ROOT / "nfdlib").rglob("*.py")) + sorted((ROOT / "notebooks").glob("*.py"))
    files += [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))
    return [f for f in files if f.exists()]


# Documents outside the repository, by the names they go by.
FOREIGN = [
    (re.compile(r"\bDIGEST\b"), "the paper digest (not in the repository): cite docs/reconstruction.md"),
    (re.compile(r"NFD_DISCRETE"), "NFD_DISCRETE.md (not in the repository): cite docs/reconstruction.md"),
    (re.compile(r"\.\./shared\b|(?<![\w./])shared/paper"), "a path outside the repository"),
]
# A path into one of the repository's folders; placeholders (NN_name, <name>, x.md, *.py) are not references.
PATH = re.compile(r"(?<![\w./-])((?:docs|notebooks|nfdlib|data|tests|benchmarks|\.ci)/[\w.-]+(?:/[\w.-]+)*)")
PLACEHOLDER = re.compile(r"NN|<|\*|/x\.")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
MODULE = re.compile(r"(?<![\w.])nfdlib\.([A-Za-z_]\w*)")
CLAIM = re.compile(r"\bR(\d{1,2})\b")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Anchors of the headings of a markdown file (outside fenced code)."""
    out, fenced = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            out.add(github_anchor(line.lstrip("#")))
    return out


def claim_labels() -> set[str]:
    """The labels of the claims table of docs/reconstruction.md (rows starting ``| R<number> |``)."""
    return set(re.findall(r"^\| (R\d{1,2}) \|", RECONSTRUCTION.read_text(), flags=re.M))


def problems(path: Path) -> list[str]:
    """Every dangling reference in one file, as ``line N: what``."""
    text = path.read_text()
    known_claims = claim_labels()
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern, why in FOREIGN:
            for m in pattern.finditer(line):
                found.append(f"line {number}: {m.group(0)!r}: {why}")
        for m in PATH.finditer(line):
            target, after = m.group(1).rstrip("."), line[m.end():m.end() + 1]
            if PLACEHOLDER.search(target) or after in ("<", "{") or "://" in line[max(0, m.start() - 60):m.start()]:
                continue
            if after == "*":  # a file pattern such as data/gia_*.json: something must match it
                if not list(ROOT.glob(target + "*")):
                    found.append(f"line {number}: nothing in the repository matches {target + '*'!r}")
            elif not (ROOT / target).exists():
                found.append(f"line {number}: {target!r} does not exist in the repository")
        for m in LINK.finditer(line):
            target = m.group(1)
            if re.match(r"[a-z]+:", target) or re.search(r"[{}*]", target):
                continue  # a web address, or code that only looks like a link
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            if not resolved.exists():
                found.append(f"line {number}: link {target!r} points at nothing")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                found.append(f"line {number}: link {target!r}: no heading of {resolved.name} has that anchor")
        for m in MODULE.finditer(line):
            name = m.group(1)
            if not ((ROOT / "nfdlib" / f"{name}.py").exists() or (ROOT / "nfdlib" / name / "__init__.py").exists()
                    or hasattr(importlib.import_module("nfdlib"), name)):
                found.append(f"line {number}: module or name 'nfdlib.{name}' does not exist")
        for m in CLAIM.finditer(line):
            if m.group(0) not in known_claims:
                found.append(f"line {number}: claim label {m.group(0)} is not in docs/reconstruction.md section 7")
    return found


def test_reconstruction_lists_the_claims():
    assert {f"R{i}" for i in range(1, 13)} <= claim_labels()


def test_the_checker_finds_dangling_references(tmp_path):
    """The checker itself: one planted reference of each kind is reported, a good one is not."""
    bad = tmp_path / "bad.md"
    bad.write_text("# Title\n"
                   "See DIGEST 2.2 and NFD_DISCRETE.md, ../shared/paper/x, docs/nothing_here.md, R99,\n"
                   "data/none_*.npz, [a link](missing.md), [an anchor](#no-such-heading), nfdlib.no_such_module.\n"
                   "Fine: docs/reconstruction.md, data/gia_*.json, notebooks/NN_name.py, [ok](#title), R4,\n"
                   "nfdlib.stats.\n")
    found = problems(bad)
    for needle in ("'DIGEST'", "NFD_DISCRETE", "../shared", "docs/nothing_here.md", "data/none_*", "R99",
                   "missing.md", "no-such-heading", "no_such_module"):
        assert any(needle in p for p in found), (needle, found)
    assert len(found) == 9, found


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason="dangling references, fixed on another branch"))
     if str(p.relative_to(ROOT)) in KNOWN_DANGLING else p for p in _sources()],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_no_dangling_references(path):
    found = problems(path)
    assert not found, f"{path.relative_to(ROOT)}:\n" + "\n".join(found)
