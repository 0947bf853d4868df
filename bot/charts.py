"""The /stats chart: per department, each target ratio as a bar against its target line (PNG).

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

log = logging.getLogger(__name__)

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 8.0, 100  # 1000 × 800 pixels
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
    """One target ratio: its label, target (0–1) and one value per department (None: —)."""

    label: str
    target: float
    values: Sequence[float | None]


def render_png(
    title: str,
    departments: Sequence[str],
    series: Sequence[Series],
    *,
    target_word: str = "target",
) -> bytes:
    """One panel per ratio: a bar per department, the target as a dashed line."""
    family = cjk_font()
    families = [family or "DejaVu Sans"]  # matplotlib draws a label with this one font
    departments = [drawable(name, families) for name in departments]
    title = drawable(title, families)
    rc: dict[str, Any] = {"axes.unicode_minus": False}
    if family:
        rc["font.family"] = "sans-serif"
        rc["font.sans-serif"] = [family, "DejaVu Sans"]
    with matplotlib.rc_context(rc):  # type: ignore[arg-type]
        fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
        axes = fig.subplots(len(series), 1, squeeze=False)[:, 0]
        positions = list(range(len(departments)))
        for ax, s in zip(axes, series, strict=True):
            heights = [(v or 0.0) * 100 for v in s.values]
            colors = [
                "#bbbbbb" if v is None else ("#2e7d32" if v >= s.target else "#e65100")
                for v in s.values
            ]
            ax.bar(positions, heights, color=colors, width=0.6)
            ax.axhline(s.target * 100, color="#c62828", linestyle="--", linewidth=1.5)
            ax.text(
                len(departments) - 0.5,
                s.target * 100,
                f"{target_word} {s.target * 100:.0f}%",
                color="#c62828",
                ha="right",
                va="bottom",
                fontsize=9,
            )
            for x, v in zip(positions, s.values, strict=True):
                shown = "—" if v is None else f"{v * 100:.0f}%"
                ax.text(x, (v or 0.0) * 100 + 2, shown, ha="center", va="bottom", fontsize=9)
            ax.set_ylim(0, 115)
            ax.set_ylabel("%")
            ax.set_title(s.label, fontsize=11)
            ax.set_xticks(positions)
            ax.set_xticklabels(departments, fontsize=9)
            ax.set_xlim(-0.6, max(len(departments), 1) - 0.4)
        fig.suptitle(title, fontsize=13)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
