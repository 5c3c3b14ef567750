"""Answers to the explorer's guided experiments: computed at once in a notebook, on demand under Voila.

Answers to notebook 08's guided experiments: computed at once in a notebook, on demand when Voila serves it.

:func:`on_demand_answer` shows a guided experiment's answer: computed at once in a notebook, behind a button when
the notebook is served as an app by Voila (:func:`served_by_voila`), so that the app shows the explorer without
first computing every answer. :func:`hidden_answer` is the collapsed block either way shows.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import ipywidgets as W
import numpy as np
from IPython.display import Markdown, display

from ..validation import check_bool


def served_by_voila() -> bool:
    """True in a kernel that Voila started (Voila puts ``SERVER_SOFTWARE=voila/<version>`` in its environment)."""
    return os.environ.get("SERVER_SOFTWARE", "").startswith("voila/")


def on_demand_answer(compute: Callable[[], str], *, eager: bool | None = None, summary: str = "Answer",
                     hidden: bool = True):
    """A guided experiment's answer: ``compute()`` returns its markdown. With ``eager`` (default: not
    :func:`served_by_voila`) it is computed now and returned as a :func:`hidden_answer` (plain markdown when
    ``hidden`` is false); otherwise a button computes it when pressed and shows it below, so that a served app
    draws the explorer first."""
    if not callable(compute):
        raise ValueError(f"compute must be a function returning the answer's markdown, got {type(compute).__name__}")
    if eager is not None and not isinstance(eager, (bool, np.bool_)):
        raise ValueError(f"eager must be True, False or None (computed at once unless served by Voila), got {eager!r}")
    check_bool("hidden", hidden)

    def shown(text: str):
        return hidden_answer(text, summary) if hidden else Markdown(text)

    if eager is None:
        eager = not served_by_voila()
    if eager:
        return shown(compute())

    button = W.Button(description="Compute the answer", tooltip="runs the experiment (seconds to a minute)")
    out = W.Output()

    def press(_):
        button.disabled = True
        button.description = "computing…"
        with out:
            try:
                display(shown(compute()))
            except Exception as err:  # noqa: BLE001 - a callback must never raise into the front end
                display(shown(f"The experiment failed: {type(err).__name__}: {err}"))
        button.layout.display = "none"

    button.on_click(press)
    return W.VBox([button, out])


def hidden_answer(text: str, summary: str = "Answer"):
    """A collapsed block (``<details>``) holding ``text`` (markdown), for predict-then-check questions; display it
    with IPython's ``display``."""
    return Markdown(f"<details><summary>{summary}</summary>\n\n{text}\n\n</details>")


__all__ = ["served_by_voila", "on_demand_answer", "hidden_answer"]
