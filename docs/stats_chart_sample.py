"""Regenerates docs/stats-chart.png: the /stats chart of a made-up county with 30 departments,
drawn by bot.charts as the bot draws it. `python docs/stats_chart_sample.py [FONT_FILE]`; a font
file (e.g. a Noto Sans CJK .otf) is registered first when the machine has no CJK font."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from matplotlib import font_manager

from bot import charts

NAMES = (
    "县民政局 县市场监督管理局 县卫生健康委员会 县消防救援大队 县文化和旅游局 县公安局 县教育局"
    " 县住房和城乡建设局 县商务局 县应急管理局 县生态环境分局 县交通运输局 县农业农村局"
    " 县自然资源和规划局 县水利局 县林业局 县城市管理综合行政执法局 县医疗保障局"
    " 县人力资源和社会保障局 县财政局 县审计局 县统计局 县税务局 县烟草专卖局 县气象局"
    " 县粮食和物资储备局 县司法局 县退役军人事务局 县科学技术局 县数据资源管理局"
).split()


def main() -> None:
    if len(sys.argv) > 1:
        font_manager.fontManager.addfont(sys.argv[1])
        name = font_manager.FontProperties(fname=sys.argv[1]).get_name()
        charts.CJK_FAMILIES = (name, *charts.CJK_FAMILIES)
    rng = random.Random(15)
    values = [
        [None if i >= 27 or rng.random() < 0.1 else rng.randint(0, 40) / 40 for i in range(30)]
        for _ in range(3)
    ]
    labels = ("联合抽查占比（任务数）", "联合检查企业占比", "信用风险分类应用率")
    series = [
        charts.Series(label, target, v, county)
        for label, target, v, county in zip(
            labels, (0.6, 0.5, 0.95), values, (0.575, 0.612, 0.968), strict=True
        )
    ]
    png = charts.render_png(
        "一业一查指标 2026年第四季度",
        NAMES,
        series,
        words=charts.Words("目标", "清河县", "暂无数据"),
    )
    out = Path(__file__).with_name("stats-chart.png")
    out.write_bytes(png)
    print(f"wrote {out} ({len(png)} bytes)")


if __name__ == "__main__":
    main()
