"""Bar charts as PNG for the review documents.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend or rcParams), sized for
the A4 text width so that the fonts print at body-text size. Every word on a chart comes from the caller."""

from __future__ import annotations

import textwrap
import threading
from dataclasses import dataclass
from io import BytesIO

from . import mplsetup

DPI = 180
WIDTH_IN = 6.3  # 16 cm, the text width of an A4 page with 2.5 cm margins
# Okabe–Ito: distinguishable with the common colour-vision deficiencies and in greyscale by lightness.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
TEXT = "#222222"
GRID = "#D0D0D0"
NBSP = "\u00a0"
MAX_VALUE_LABELS = 24  # above this many bars the numbers crowd each other

# matplotlib makes no promise of thread safety; the bot may render from worker threads.
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Chart:
    key: str  # referenced from Markdown as ![alt text](chart:KEY)
    title: str
    categories: list[str]
    series: dict[str, list[float]]  # legend label -> one value per category
    stacked: bool = False
    percent: bool = False  # value axis 0–100 %
    y_label: str | None = None  # the value axis' label (the x axis when horizontal)
    horizontal: bool = False
    decimal_mark: str = ","  # Swedish by default; numbers are grouped with a no-break space either way


def render_chart(chart: Chart) -> bytes:
    """The chart as a PNG at 180 dpi."""
    for label, values in chart.series.items():
        if len(values) != len(chart.categories):
            raise ValueError(f"series {label!r} has {len(values)} values for {len(chart.categories)} categories")
    mplsetup.prepare()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _LOCK:
        fig = Figure(figsize=(WIDTH_IN, _height(chart)), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        _draw(fig, ax, chart)
        out = BytesIO()
        fig.savefig(out, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})
        return out.getvalue()


def _height(chart: Chart) -> float:
    if not chart.horizontal:
        return 3.5
    per_category = 0.32 if chart.stacked or len(chart.series) < 2 else 0.2 * len(chart.series) + 0.1
    return min(8.5, max(2.6, 1.4 + per_category * len(chart.categories)))


def number(value: float, decimal_mark: str = ",") -> str:
    """12 → "12", 1234.5 → "1 234,5", -3 → "−3" (typographic minus, no-break space as thousands separator)."""
    text = f"{abs(value):,.0f}" if abs(value - round(value)) < 1e-9 else f"{abs(value):,.1f}"
    text = text.replace(",", NBSP).replace(".", decimal_mark)
    return ("\u2212" if value < 0 and text.strip("0" + NBSP + decimal_mark) else "") + text


def _draw(fig, ax, chart: Chart) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator

    n, k = len(chart.categories), max(1, len(chart.series))
    positions = list(range(n))
    bar = ax.barh if chart.horizontal else ax.bar
    width = 0.7 if chart.stacked else 0.8 / k
    base = [0.0] * n
    containers = []
    for i, (label, values) in enumerate(chart.series.items()):
        colour = PALETTE[i % len(PALETTE)]
        if chart.stacked:
            where, extra = positions, {"left" if chart.horizontal else "bottom": list(base)}
        else:
            where, extra = [p - 0.4 + width * (i + 0.5) for p in positions], {}
        size = {"height" if chart.horizontal else "width": width}
        containers.append(bar(where, list(values), color=colour, label=label, edgecolor="white", linewidth=0.6,
                              zorder=2, **size, **extra))
        base = [b + v for b, v in zip(base, values)]

    _value_labels(ax, chart, containers, n * k)
    ax.margins(**{"x" if chart.horizontal else "y": 0.1})

    cat_axis, value_axis = (ax.yaxis, ax.xaxis) if chart.horizontal else (ax.xaxis, ax.yaxis)
    wrap = 28 if chart.horizontal else 14
    cat_axis.set_ticks(positions, ["\n".join(textwrap.wrap(c, wrap)) or c for c in chart.categories])
    if chart.horizontal:
        ax.invert_yaxis()  # first category on top, as it reads in a table
    elif n > 6 and max((len(c) for c in chart.categories), default=0) > 5:
        ax.tick_params(axis="x", labelrotation=35)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")

    suffix = NBSP + "%" if chart.percent else ""
    value_axis.set_major_formatter(FuncFormatter(lambda v, _: number(v, chart.decimal_mark) + suffix))
    if chart.percent:  # headroom above 100 % for the numbers on unstacked bars
        (ax.set_xlim if chart.horizontal else ax.set_ylim)(0, 100 if chart.stacked else 112)
        value_axis.set_major_locator(MultipleLocator(20))
    elif all(float(v).is_integer() for vs in chart.series.values() for v in vs):
        value_axis.set_major_locator(MaxNLocator(integer=True))
    if chart.y_label:
        value_axis.set_label_text(chart.y_label, fontsize=9, color=TEXT)

    # On the figure, not the axes: long category labels push a horizontal chart's axes far to the right.
    fig.suptitle("\n".join(textwrap.wrap(chart.title, 60)), x=0.01, ha="left", fontsize=11, fontweight="bold",
                 color=TEXT)
    ax.tick_params(labelsize=9, colors=TEXT, length=0)
    ax.grid(axis="x" if chart.horizontal else "y", color=GRID, linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.spines["left" if not chart.horizontal else "bottom"].set_visible(False)
    if len(chart.series) > 1:
        fig.legend(loc="outside lower center", ncols=min(len(chart.series), 4), frameon=False, fontsize=9)


def _value_labels(ax, chart: Chart, containers, bars: int) -> None:
    """Numbers on the bars, when there is room for them: printed charts lose the gridlines' precision."""
    if bars == 0 or bars > MAX_VALUE_LABELS * (2 if chart.stacked else 1):
        return
    suffix = NBSP + "%" if chart.percent else ""
    totals = [sum(vs) for vs in zip(*chart.series.values())] or [0]
    smallest = 0.07 * (100 if chart.percent else max(totals + [1e-9]))
    for i, (container, values) in enumerate(zip(containers, chart.series.values())):
        if chart.stacked:
            labels = [number(v, chart.decimal_mark) + suffix if v >= smallest else "" for v in values]
            dark = i % len(PALETTE) in (0, 2, 3, 4, 7)  # white text on the darker palette colours
            ax.bar_label(container, labels=labels, label_type="center", fontsize=8,
                         color="white" if dark else TEXT)
        else:
            labels = [number(v, chart.decimal_mark) + suffix for v in values]
            ax.bar_label(container, labels=labels, padding=2, fontsize=8, color=TEXT)
