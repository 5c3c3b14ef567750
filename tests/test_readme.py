import re
from pathlib import Path

from nfdlib.parametrization import registry_table

ROOT = Path(__file__).resolve().parent.parent


def test_readme_registry_table_matches_registry():
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- registry-table:start -->\n(.*?)\n<!-- registry-table:end -->", text, re.S)
    assert match, "README.md lost its registry-table markers"
    assert match.group(1).strip() == registry_table().strip(), (
        "README's table is stale: replace it with the output of "
        "`python -c 'import nfdlib; print(nfdlib.registry_table())'`")


def test_readme_links_every_notebook():
    text = (ROOT / "README.md").read_text()
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert f"notebooks/{nb.name}" in text, f"README's notebook map does not link {nb.name}"
