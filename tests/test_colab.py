"""Every notebook's Colab badge and set-up cell come from the one place that holds the repository's address."""

import re
from pathlib import Path

import pytest

from nfdlib import colab

ROOT = Path(__file__).resolve().parent.parent
SOURCES = colab.notebook_sources(ROOT / "notebooks")


def test_there_are_notebooks():
    assert len(SOURCES) >= 6


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_badge_and_setup_cell_agree_with_nfdlib_colab(path):
    assert colab.check_notebook(path) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_setup_cell_comes_right_after_the_parameters_cell(path):
    # The set-up cell installs what the imports need, so it must run before them.
    cells = colab.cells(path.read_text())
    code = [c for c in cells[1:] if not c.startswith("# %% [markdown]")]
    assert 'tags=["parameters"]' in code[0].split("\n", 1)[0]
    assert code[1].split("\n", 1)[1].startswith(colab.SETUP_MARKER)


def test_setup_cell_installs_the_notebook_extras_and_only_in_colab():
    cell = colab.setup_cell()
    assert "[notebooks]" in cell and colab.REPOSITORY in cell
    assert 'if "google.colab" in sys.modules' in cell
    scope = {}
    exec(compile(cell, "setup", "exec"), scope)  # outside Colab: defines REPOSITORY and does nothing else
    assert scope["REPOSITORY"] == colab.REPOSITORY


def test_pyproject_names_the_same_repository():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["urls"]["Repository"] == colab.REPOSITORY


def test_check_and_sync_catch_and_repair_a_stale_copy(tmp_path):
    source = SOURCES[0].read_text()
    stale = source.replace(colab.REPOSITORY.split("github.com/")[1], "someone/old-fork")
    stale = stale.replace("[notebooks]", "")
    path = tmp_path / SOURCES[0].name
    path.write_text(stale)
    problems = colab.check_notebook(path)
    assert any("badge" in p for p in problems) and any("set-up cell" in p for p in problems)
    assert colab.sync_notebook(path) is True
    assert colab.check_notebook(path) == [] and path.read_text() == source
    assert colab.sync_notebook(path) is False


def test_badge_points_at_the_notebook_on_the_branch():
    link = re.search(r"\]\((https://colab[^)]*)\)$", colab.badge("08_explorer")).group(1)
    assert link.endswith(f"/blob/{colab.BRANCH}/notebooks/08_explorer.ipynb")
