"""Where the collection lives, for Colab: the one place that holds the repository's address.

Each notebook opens with an "Open in Colab" badge and a set-up cell that, in Colab only, clones the repository
and installs ``nfdlib`` with its notebook extras. Both are generated from :data:`REPOSITORY` and
:data:`BRANCH`: to publish a fork, change them here and run ``python -m nfdlib.colab`` (it rewrites the badge
and set-up cell of every ``notebooks/NN_name.py``), then ``make sync``. ``tests/test_colab.py`` fails when a
notebook disagrees with this module.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPOSITORY = "https://github.com/nfd-notebooks/nfd-notebooks"
BRANCH = "main"
CLONE_DIR = "/content/nfd-notebooks"

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
SETUP_MARKER = "# Colab only:"


def _github_path() -> str:
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)/?", REPOSITORY)
    if not match:
        raise ValueError(f"REPOSITORY must be https://github.com/<owner>/<name>, got {REPOSITORY!r}")
    return match.group(1)


def badge(notebook: str) -> str:
    """The markdown of the "Open in Colab" badge of ``notebook`` (e.g. ``"08_explorer"``)."""
    return (f"[![Open In Colab]({BADGE_IMAGE})](https://colab.research.google.com/github/{_github_path()}/blob/"
            f"{BRANCH}/notebooks/{notebook}.ipynb)")


def setup_cell() -> str:
    """The source of every notebook's set-up cell (without its ``# %%`` line). Outside Colab it does nothing."""
    return f'''{SETUP_MARKER} fetch the collection and install nfdlib with its notebook extras. Elsewhere this cell
# does nothing (on your machine `make lab` has installed everything).
import os
import sys

REPOSITORY = "{REPOSITORY}"
if "google.colab" in sys.modules and not os.path.isdir("{CLONE_DIR}"):
    import subprocess

    subprocess.run(f"git clone -q --depth 1 --branch {BRANCH} {{REPOSITORY}} {CLONE_DIR}"
                   " && pip install -q -e '{CLONE_DIR}[notebooks]'", shell=True, check=True)
    sys.path.insert(0, "{CLONE_DIR}")
    from google.colab import output

    output.enable_custom_widget_manager()  # the live widgets
'''


_CELL = re.compile(r"^# %%[^\n]*\n", re.M)


def cells(source: str) -> list[str]:
    """A percent-format source split into cells, each starting with its ``# %%`` line (the header first)."""
    starts = [m.start() for m in _CELL.finditer(source)]
    bounds = [0, *starts, len(source)]
    return [source[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def check_notebook(path: str | Path) -> list[str]:
    """What in one notebook source disagrees with this module (empty when it agrees)."""
    path = Path(path)
    text = path.read_text()
    problems = []
    want = badge(path.stem)
    found = re.findall(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)", text)
    if found != [want]:
        problems.append(f"{path.name}: badge {found or 'missing'} should be {want}")
    setups = [c for c in cells(text) if c.split("\n", 1)[1].startswith(SETUP_MARKER)]
    if len(setups) != 1:
        problems.append(f"{path.name}: {len(setups)} set-up cells (want exactly one, starting {SETUP_MARKER!r})")
    elif setups[0].split("\n", 1)[1].rstrip("\n") != setup_cell().rstrip("\n"):
        problems.append(f"{path.name}: the set-up cell differs from nfdlib.colab.setup_cell()")
    return problems


def sync_notebook(path: str | Path) -> bool:
    """Rewrite the badge and the set-up cell of one notebook source from this module; True if it changed."""
    path = Path(path)
    text = path.read_text()
    new = re.sub(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)", lambda _: badge(path.stem), text)
    out = []
    for cell in cells(new):
        head, _, body = cell.partition("\n")
        if body.startswith(SETUP_MARKER):
            cell = head + "\n" + setup_cell() + "\n"
        out.append(cell)
    new = "".join(out)
    if new != text:
        path.write_text(new)
    return new != text


def notebook_sources(folder: str | Path | None = None) -> list[Path]:
    folder = Path(folder) if folder is not None else Path(__file__).resolve().parent.parent / "notebooks"
    return sorted(folder.glob("[0-9][0-9]_*.py"))


def _main(argv: list[str] | None = None) -> None:
    """Rewrite the Colab badge and set-up cell of every notebook source (``notebooks/NN_name.py``) in a folder."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m nfdlib.colab", description=_main.__doc__)
    ap.add_argument("folder", nargs="?", help="folder of the notebook sources (default: the repository's notebooks/)")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    sources = notebook_sources(args.folder)
    if not sources:
        ap.error(f"folder {args.folder!r} holds no notebook source named NN_name.py")
    for path in sources:
        print(f"{path.name}: {'rewritten' if sync_notebook(path) else 'already in sync'}")
    print("now run `make sync` to regenerate the .ipynb files")


if __name__ == "__main__":
    _main()
