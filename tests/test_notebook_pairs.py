"""Each notebooks/NN_name.py (jupytext percent format) is the source of NN_name.ipynb, which must be exactly
what jupytext generates from it, committed without outputs, and start with a tagged parameters cell."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
IPYNBS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _cells(nb):
    return [(c.cell_type, c.source, tuple(c.metadata.get("tags", []))) for c in nb.cells]


def test_there_are_notebooks():
    assert SOURCES, "no notebooks/NN_name.py sources found"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_pair_in_sync(source):
    assert "format_name: percent" in source.read_text()[:600], f"{source.name} is not in jupytext percent format"
    ipynb = source.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run `make sync`"
    generated = jupytext.read(source)
    committed = nbformat.read(ipynb, as_version=4)
    assert _cells(committed) == _cells(generated), f"{ipynb.name} is out of sync with {source.name}: run `make sync`"


@pytest.mark.parametrize("ipynb", IPYNBS, ids=lambda p: p.name)
def test_every_ipynb_has_a_source_and_no_outputs(ipynb):
    assert ipynb.with_suffix(".py").exists(), f"{ipynb.name} has no percent-format source"
    nb = nbformat.read(ipynb, as_version=4)
    with_outputs = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("outputs")]
    assert not with_outputs, f"{ipynb.name} is committed with outputs in cells {with_outputs}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_first_code_cell_is_parameters(source):
    nb = jupytext.read(source)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{source.name} has no code cell"
    first = code[0]
    assert "parameters" in first.metadata.get("tags", []), f"{source.name}: first code cell is not tagged parameters"
    assert "NFD_QUICK" in first.source, f"{source.name}: the parameters cell does not read NFD_QUICK"
