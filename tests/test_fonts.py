"""The /stats chart's Chinese labels come from the font packaged with the bot, not the system.

This machine has no CJK system font (`fc-list :lang=zh` lists nothing), and the tests must pass
on one that has none at all: the chart takes Noto Sans SC from the pylopdf-fonts-zh-cn package.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from matplotlib.backends.backend_agg import RendererAgg

from bot import charts

SERIES = [charts.Series("联合抽查占比", 0.6, [0.5, None]), charts.Series("完成率", 0.9, [1.0, 0.2])]


@pytest.fixture
def drawn_texts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(text, font file) of every text Agg draws, recorded around the real draw_text."""
    seen: list[tuple[str, str]] = []
    original = RendererAgg.draw_text

    def recording(
        self: RendererAgg, gc: Any, x: float, y: float, s: str, prop: Any, *a: Any, **k: Any
    ) -> Any:
        seen.append((s, self._prepare_font(prop).fname))
        return original(self, gc, x, y, s, prop, *a, **k)

    monkeypatch.setattr(RendererAgg, "draw_text", recording)
    return seen


def test_the_packaged_font_is_found_and_registered() -> None:
    path = charts.packaged_font_path()
    assert path is not None and path.name == "NotoSansSC-Regular.otf"
    assert path.stat().st_size > 1_000_000  # the whole font, not a stub
    assert "site-packages" in path.parts or "dist-packages" in path.parts
    assert charts.cjk_font() == "Noto Sans SC"


def test_chinese_labels_are_drawn_with_the_packaged_font(
    drawn_texts: list[tuple[str, str]],
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph would be a UserWarning
        png = charts.render_png(
            "清河县一业一查指标",
            ["县民政局", "县市场监督管理局"],
            SERIES,
            words=charts.Words(target="目标", county="清河县", no_data="无数据"),
        )
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    packaged = str(charts.packaged_font_path())
    chinese = [
        (text, font) for text, font in drawn_texts if any("\u4e00" <= c <= "\u9fff" for c in text)
    ]
    labels = {text for text, _ in chinese}
    assert {
        "清河县一业一查指标",
        "县民政局",
        "县市场监督管理局",
        "联合抽查占比",
        "完成率",
    } <= labels
    assert {font for _, font in chinese} == {packaged}


def test_a_glyph_no_font_has_is_dropped_and_the_chart_still_made(
    drawn_texts: list[tuple[str, str]],
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = charts.render_png("清河县 😀", ["县文化和旅游局 😀", "县民政局"], SERIES)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert "县文化和旅游局" in {text for text, _ in drawn_texts}
    assert not any("😀" in text for text, _ in drawn_texts)


def test_no_system_cjk_font_is_needed() -> None:
    """The packaged font wins even where the system has CJK fonts, so the chart looks the same
    everywhere; and its file is inside the installed packages, never under /usr/share/fonts."""
    from matplotlib import font_manager

    found = font_manager.findfont(
        font_manager.FontProperties(family=charts.cjk_font()), fallback_to_default=False
    )
    assert Path(found) == charts.packaged_font_path()
    assert not found.startswith("/usr/share/fonts")
