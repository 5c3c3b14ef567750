"""The machinery every live widget shares: controls, and a figure recomputed and redrawn when they move.

The machinery every live widget shares (notebooks 00, 02, 05, 06 and 08): controls, a figure recomputed and
redrawn when they move, and the helpers that lay out and annotate its panels.

Built from ipywidgets 8 and plain matplotlib (each figure is rendered to a PNG and shown in an ``Image``
widget), so the widgets work in JupyterLab, Colab and Voila without ipympl, and run head-less: a
:class:`LiveFigure` computes and draws once when it is created, and setting a control's ``.value`` from code
updates it exactly as a slider move does. Rendered figures are memoized per setting of the controls, so
returning to a setting is instant. A failure is shown in the message line; it never raises out of a callback.

Titles and readouts (a line of numbers per panel) are HTML beside the image rather than text in it: text is most
of the drawing time (``benchmarks/widgets.py``), and HTML can be read and selected.
"""

from __future__ import annotations

import io
import math
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence

import ipywidgets as W
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from .. import explore as ex
from ..config import get_device
from ..validation import check_int

FIGURE_DPI = 80


# -------------------------------------------------------------------------------------------------------------
# Controls
# -------------------------------------------------------------------------------------------------------------
def rate_label(eta: float) -> str:
    """A learning rate as a slider shows it: ``2^-3 = 0.125`` below 1, plain above."""
    k = math.log2(eta)
    return f"2^{k:g} = {eta:g}" if k < 0 else f"{eta:g}"


def selection_slider(description: str, options, value, fmt=str) -> W.SelectionSlider:
    """A slider over ``options`` (each labelled by ``fmt``) that updates when it is let go."""
    return W.SelectionSlider(options=[(fmt(v), v) for v in options], value=value, description=description,
                             continuous_update=False, style={"description_width": "90px"},
                             layout=W.Layout(width="330px"))


def toggle_buttons(description: str, options, value) -> W.ToggleButtons:
    """A row of buttons for a choice among a few ``options`` (``(label, value)`` pairs)."""
    return W.ToggleButtons(options=options, value=value, description=description,
                           style={"description_width": "90px", "button_width": "82px"})


def dropdown(description: str, options, value) -> W.Dropdown:
    """A drop-down list of ``options`` (values or ``(label, value)`` pairs)."""
    return W.Dropdown(options=options, value=value, description=description, style={"description_width": "90px"},
                      layout=W.Layout(width="330px"))


# -------------------------------------------------------------------------------------------------------------
# The live figure every widget is
# -------------------------------------------------------------------------------------------------------------
class LiveFigure:
    """Controls, a figure that ``compute`` then ``draw`` produce from the controls' values, a status line and a
    message line.

    ``compute(values) -> result`` (a dict; may carry ``notes``, ``cached`` and ``device``) and
    ``draw(result) -> Figure``. The rendered PNG is memoized per ``values``, so a revisited setting skips both.
    After each update ``result`` holds the last result, ``error`` the last failure (or ``None``) and
    ``updates`` counts updates; ``computed`` counts those that were not served from the figure memo. ``notes``
    (what the widget changed in the requested start) are shown in the message line until a control moves.
    """

    def __init__(self, controls: Mapping[str, W.ValueWidget], compute: Callable[[dict], dict],
                 draw: Callable[[dict], Figure], *, columns: int = 2, title: str = "", cache_size: int = 64,
                 notes: Sequence[str] = ()):
        if not isinstance(controls, Mapping):
            raise ValueError(f"controls must be a mapping of names to widgets, got {type(controls).__name__}")
        check_int("columns", columns)
        self.controls = dict(controls)
        # What was changed in the requested start (a value off a slider's grid, a slider extended): shown until a
        # control moves, when the controls themselves say what is computed.
        self.notes = list(notes)
        self._compute, self._draw = compute, draw
        self._pngs = ex.Memo(cache_size)
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.status = W.HTML(layout=W.Layout(min_height="1.4em"))
        self.message = W.HTML(layout=W.Layout(min_height="1.2em"))
        self.readout = W.HTML()
        self.result: dict | None = None
        self.error: str | None = None
        self.updates = 0
        self.computed = 0
        self.last_seconds = float("nan")
        items = list(self.controls.values())
        rows = [W.HBox(items[i:i + columns]) for i in range(0, len(items), columns)]
        header = [W.HTML(f"<b>{title}</b>")] if title else []
        self.box = W.VBox([*header, *rows, self.status, self.message, self.readout, self.image])
        self.box.add_class("nfd-live")
        for widget in items:
            widget.observe(self._on_change, names="value")
        self.update()

    def values(self) -> dict:
        return {name: widget.value for name, widget in self.controls.items()}

    def _on_change(self, change) -> None:
        self.notes = []
        self.update()

    def _notes_html(self) -> str:
        if not self.notes:
            return ""
        return "<span class='nfd-note' style='color:#a60'>" + _escape("; ".join(self.notes)) + "</span><br>"

    def _render(self, values: dict) -> tuple[bytes, dict, str]:
        result = self._compute(values)
        fig = self._draw(result)
        return render_png(fig), result, readout_html(fig)

    def update(self) -> None:
        """Recompute (or fetch from the memo) and redraw; never raises."""
        start = time.perf_counter()
        values = self.values()
        key = tuple(sorted(values.items(), key=lambda kv: kv[0]))
        self.updates += 1
        if key not in self._pngs:  # shown while the kernel computes (a large setting can take seconds on a CPU)
            self.status.value = "<span style='color:#666'>computing this setting…</span>"
        try:
            (png, result, readout), from_memo = self._pngs.get(key, lambda: self._render(values))
        except Exception as err:  # noqa: BLE001 - a widget callback must never raise into the front end
            self.error = f"{type(err).__name__}: {err}"
            self.message.value = self._notes_html() + (
                f"<span class='nfd-error' style='color:#b00'>This setting could not be computed: "
                f"{_escape(self.error)}. The figure shows the previous setting.</span>")
            seconds = time.perf_counter() - start
            self.status.value = f"<span style='color:#666'>update failed after {seconds:.2f} s</span>"
            return
        self.error = None
        self.result = result
        self.computed += not from_memo
        self.image.value = png
        self.readout.value = readout
        self.last_seconds = time.perf_counter() - start
        self.message.value = self._notes_html() + _messages(result)
        self.status.value = _status(result, self.last_seconds, from_memo)

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)


def render_png(fig) -> bytes:
    """The figure as PNG bytes (fast zlib level: a third less time than the default, files about as small)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIGURE_DPI, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _status(result: dict, seconds: float, from_memo: bool) -> str:
    device = result.get("device", str(get_device()))
    if from_memo:
        source = "figure from cache"
    else:
        parts = result.get("cached", {})
        fresh = [k for k, v in parts.items() if not v]
        reused = [k for k, v in parts.items() if v]
        source = "computed: " + (", ".join(fresh) or "drawing only")
        if reused:
            source += "; from cache: " + ", ".join(reused)
    text = f"device <b>{device}</b> · last update {seconds:.2f} s · {source}"
    notes = result.get("notes") or []
    if notes:
        text += f" · <span style='color:#a60'>capped on {device.split(':')[0]}: {', '.join(notes)}</span>"
    return f"<span style='color:#444;font-size:90%'>{text}</span>"


def _messages(result: dict) -> str:
    errors = []
    for part in ("networks",):
        if isinstance(result.get(part), dict) and "error" in result[part]:
            errors.append(f"{part}: {result[part]['error']}")
    for name, group in (("limit", result.get("limit")), ("collapse", result.get("collapse"))):
        for key, res in (group or {}).items():
            if "error" in res:
                errors.append(f"{name} {key}: {res['error']}")
    if not errors:
        return ""
    return "<span class='nfd-error' style='color:#b00'>" + _escape("; ".join(errors)) + "</span>"


# -------------------------------------------------------------------------------------------------------------
# Figures of panels, with their readouts as HTML
# -------------------------------------------------------------------------------------------------------------
def panel_figure(panels: str, width_per_panel: float = 4.6, height: float = 3.4) -> tuple[Figure, list]:
    """A figure with one ``Axes`` per letter of ``panels``, two to a row, and the ``Axes`` in that order."""
    # Fixed margins rather than a layout engine: constrained or tight layout draws the figure twice, and drawing
    # is most of an update's time on a laptop CPU (benchmarks/widgets.py).
    cols = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / cols)
    # Titles, readouts and captions are HTML beside the image (text is most of the drawing time).
    fig = Figure(figsize=(width_per_panel * cols, height * rows))
    top = 1 - 0.3 / (height * rows)
    fig.subplots_adjust(left=0.09 if cols == 2 else 0.16, right=0.98, bottom=0.1 if rows > 1 else 0.15, top=top,
                        wspace=0.3, hspace=0.4)
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(len(panels))]
    return fig, axes


def log_y_axis(ax) -> None:
    """A log y axis with ticks at 1, 2 and 5 times powers of ten, plainly labelled, and no minor ticks (those cost
    a third of the drawing time)."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.yaxis.set_minor_locator(NullLocator())


def note_in_panel(ax, text: str, color: str = "#555") -> None:
    """``text`` in the middle of an empty panel, in place of a plot (an error, or why there is nothing to draw)."""
    ax.text(0.5, 0.5, textwrap.fill(text, 58), ha="center", va="center", transform=ax.transAxes, fontsize=8.5,
            color=color)
    ax.set_xticks([])
    ax.set_yticks([])


def add_readout(ax, text: str, error: bool = False) -> None:
    """A line of numbers for the panel drawn on ``ax``. It is shown as HTML under the figure, not rendered into
    the image: text is most of the drawing time (benchmarks/widgets.py), and HTML can be read and selected."""
    ax.figure.readouts = getattr(ax.figure, "readouts", [])
    title = ax.get_title().split(" ", 1)[0]
    ax.figure.readouts.append((title if title.startswith("(") else "", text, error))


def readout_html(fig) -> str:
    """The title and the panels' readout lines of a figure from :func:`nfdlib.widgets.panels.draw_panels`, as
    HTML."""
    lines = [f"<b>{_escape(fig.title_text)}</b>"] if getattr(fig, "title_text", "") else []
    for label, text, error in getattr(fig, "readouts", []):
        style = " style='color:#b00'" if error else ""
        lines.append(f"<span{style}>{_escape(label)} {_escape(text)}</span>")
    return "<div class='nfd-readout' style='font-size:90%;line-height:1.35'>" + "<br>".join(lines) + "</div>"


__all__ = ["FIGURE_DPI", "LiveFigure", "render_png", "readout_html", "rate_label", "selection_slider",
           "toggle_buttons", "dropdown", "panel_figure", "log_y_axis", "note_in_panel", "add_readout"]
