"""The /stats chart (PNG): a panel per target ratio, a horizontal bar per department, sorted.

matplotlib with the Agg backend (no display). Chinese labels are set in Noto Sans SC, which
ships with the pylopdf-fonts-zh-cn package (OFL-1.1) and is registered with matplotlib's font
manager on first use, so no system font is needed. Should that file be missing, a system CJK
font is used if there is one (Debian's fonts-noto-cjk …); without any, the chart is still drawn,
with a warning in the log. Rendering is synchronous: call it in a worker thread.
"""

from __future__ import annotations

import glob
import io
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager, ft2font
from matplotlib.figure import Figure

from bot.domain.kpi import percent

log = logging.getLogger(__name__)

DPI = 100
# (package, file): the CJK font that comes with the bot's dependencies.
PACKAGED_FONT = ("pylopdf_fonts_zh_cn", "NotoSansSC-Regular.otf")
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei", "Source Han Sans SC")
CJK_GLOBS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK*.ttc",
    "/usr/share/fonts/**/NotoSansCJK*.tt[cf]",
)
_lock = threading.Lock()
_font: list[str | None] = []  # cached: [family name or None]


def packaged_font_path() -> Path | None:
    """The packaged Noto Sans SC file, or None when the package or the file is missing."""
    package, name = PACKAGED_FONT
    try:
        path = resources.files(package).joinpath(name)
    except ModuleNotFoundError:
        return None
    return path if isinstance(path, Path) and path.is_file() else None


def cjk_font() -> str | None:
    """The family name of a CJK font matplotlib can use, or None (logged once).

    The packaged font first, so the chart looks the same on every machine; then the fonts the
    system has."""
    with _lock:
        if _font:
            return _font[0]
        found: str | None = None
        packaged = packaged_font_path()
        if packaged is not None:
            font_manager.fontManager.addfont(str(packaged))
            found = font_manager.FontProperties(fname=str(packaged)).get_name()
        for family in () if found else CJK_FAMILIES:
            try:
                font_manager.findfont(
                    font_manager.FontProperties(family=family), fallback_to_default=False
                )
                found = family
                break
            except ValueError:
                continue
        if found is None:
            for pattern in CJK_GLOBS:
                paths = sorted(glob.glob(pattern, recursive=True))
                if paths:
                    font_manager.fontManager.addfont(paths[0])
                    found = font_manager.FontProperties(fname=paths[0]).get_name()
                    break
        if found is None:
            log.warning(
                "no CJK font found (reinstall the bot: pylopdf-fonts-zh-cn ships Noto Sans SC):"
                " chart labels may not render"
            )
        _font.append(found)
        return found


def drawable(text: str, families: Sequence[str]) -> str:
    """`text` without the characters none of the fonts has (emoji in a department's name), so
    matplotlib draws no empty boxes and warns about no missing glyph."""
    fonts = []
    for family in families:
        try:
            path = font_manager.findfont(
                font_manager.FontProperties(family=family), fallback_to_default=False
            )
        except ValueError:
            continue
        fonts.append(ft2font.FT2Font(path))
    if not fonts:
        return text
    kept = "".join(
        ch for ch in text if ch.isspace() or any(f.get_char_index(ord(ch)) for f in fonts)
    )
    return " ".join(kept.split())


@dataclass(frozen=True)
class Series:
    """One target ratio: its label, target (0–1), one value per department (None: —) and,
    for administrators, the county's value."""

    label: str
    target: float
    values: Sequence[float | None]
    county: float | None = None


@dataclass(frozen=True)
class Words:
    """The chart's own words (templates/zh/stats/chart_labels.j2 gives the Chinese ones)."""

    target: str = "target"
    county: str | None = None  # the county's row label; None: no county row
    no_data: str = "no data"


PANEL_WIDTH_IN = 4.6  # one panel per ratio, side by side: 1380 px for three
ROW_IN = 0.27  # one bar per department: 30 departments and the county in about 10 inches
MET, NOT_MET, NONE = "#2e7d32", "#e65100", "#bbbbbb"
TARGET = "#c62828"


def sorted_rows(
    names: Sequence[str], values: Sequence[float | None]
) -> list[tuple[str, float | None]]:
    """Departments by value, highest first (ties by name); those without a value (—) last."""
    rows = list(zip(names, values, strict=True))
    known = sorted(
        ((n, v) for n, v in rows if v is not None), key=lambda row: (-(row[1] or 0.0), row[0])
    )
    return known + [(n, v) for n, v in rows if v is None]


def wrap(text: str, width: int) -> str:
    """Chinese text has no spaces to break at: a line break every `width` characters."""
    return "\n".join(text[i : i + width] for i in range(0, len(text), width))


def render_png(
    title: str,
    departments: Sequence[str],
    series: Sequence[Series],
    *,
    words: Words = Words(),
) -> bytes:
    """One panel per ratio, side by side. In each, a horizontal bar per department sorted by
    value (the county's figure on top, in bold), its figure as the text shows it (one decimal),
    and the target as a dashed line labelled above the panel, clear of the bars. Departments
    with no value in any panel get no bar: one line under the chart names them."""
    family = cjk_font()
    families = [family or "DejaVu Sans"]  # matplotlib draws a label with this one font
    names = [drawable(name, families) for name in departments]
    title = drawable(title, families)
    charted = [i for i in range(len(names)) if any(s.values[i] is not None for s in series)]
    idle = [names[i] for i in range(len(names)) if i not in set(charted)]
    footnote = wrap(words.no_data + "：" + "、".join(idle), 90) if idle else ""
    foot_in = 0.2 * (footnote.count("\n") + 1) + 0.2 if footnote else 0.0  # from the data alone
    footnote = "\n".join(drawable(line, families) for line in footnote.splitlines())
    rows = len(charted) + (words.county is not None)
    height = 1.3 + ROW_IN * max(rows, 3) + foot_in
    rc: dict[str, Any] = {"axes.unicode_minus": False}
    if family:
        rc["font.family"] = "sans-serif"
        rc["font.sans-serif"] = [family, "DejaVu Sans"]
    with matplotlib.rc_context(rc):  # type: ignore[arg-type]
        fig = Figure(figsize=(PANEL_WIDTH_IN * max(len(series), 1), height), dpi=DPI)
        axes = fig.subplots(1, max(len(series), 1), squeeze=False)[0, :]
        for ax, s in zip(axes, series, strict=False):
            ordered = sorted_rows([names[i] for i in charted], [s.values[i] for i in charted])
            county = drawable(words.county, families) if words.county is not None else None
            target = drawable(words.target, families)
            _panel(ax, s, drawable(s.label, families), ordered, county, target)
        fig.suptitle(title, fontsize=14, fontweight="bold")
        if footnote:
            fig.text(0.01, 0.08 / height, footnote, fontsize=9, color="#555555", va="bottom")
        fig.tight_layout(rect=(0, foot_in / height, 1, 1))
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _panel(
    ax: Any,
    s: Series,
    label: str,
    ordered: list[tuple[str, float | None]],
    county: str | None,
    target_word: str,
) -> None:
    top = [(county, s.county)] if county is not None else []
    rows: list[tuple[str, float | None]] = top + ordered
    positions = list(range(len(rows)))
    widths = [(v or 0.0) * 100 for _, v in rows]
    colors = [NONE if v is None else (MET if v >= s.target - 1e-12 else NOT_MET) for _, v in rows]
    bars = ax.barh(positions, widths, color=colors, height=0.62)
    if top:
        bars[0].set_edgecolor("#1c2733")
        bars[0].set_linewidth(1.2)
    for y, (_, v) in zip(positions, rows, strict=True):
        ax.text(
            (v or 0.0) * 100 + 1.5,
            y,
            percent(v),
            va="center",
            ha="left",
            fontsize=9,
            zorder=4,  # over the target line, on white, so the line never crosses a figure
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.9},
        )
    ax.axvline(s.target * 100, color=TARGET, linestyle="--", linewidth=1.4, zorder=3)
    ax.text(
        s.target * 100,
        1.0,
        f"{target_word} {percent(s.target)}",
        transform=ax.get_xaxis_transform(),  # x in data, y in axes: just above the plot
        color=TARGET,
        ha="center",
        va="bottom",
        fontsize=9,
    )
    ax.set_yticks(positions)
    ax.set_yticklabels([name for name, _ in rows], fontsize=9)
    if top:
        ax.get_yticklabels()[0].set_fontweight("bold")
        if len(rows) > 1:
            ax.axhline(0.5, color="#888888", linewidth=0.6)
    ax.set_ylim(max(len(rows), 1) - 0.5, -0.5)  # first row on top
    ax.set_xlim(0, 118)  # room for "100.0%" right of a full bar
    ax.set_xticks([0, 20, 40, 60, 80, 100])
    ax.set_xticklabels(["0", "20%", "40%", "60%", "80%", "100%"], fontsize=8)
    ax.set_title(label, fontsize=11, pad=16)
    ax.spines[["top", "right"]].set_visible(False)
