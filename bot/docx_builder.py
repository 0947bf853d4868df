"""Build a Word document (.docx, python-docx) from rendered template lines.

The words live in a template (templates/zh/stats/report_draft.j2, rendered without HTML
escaping); this module only turns a tiny line markup into document structure:

    # 标题              the document title
    ## 小节             a section heading
    | 列 | 列 |          a table row (consecutive rows form one table; the first is the header)
    ____                a blank line to write in (narrative sections)
    anything else       a paragraph
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from docx import Document
from docx.shared import Pt


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def build_docx(lines: Sequence[str]) -> bytes:
    doc = Document()
    style = doc.styles["Normal"]
    style.font.size = Pt(11)
    table_rows: list[list[str]] = []

    def flush() -> None:
        if not table_rows:
            return
        width = max(len(r) for r in table_rows)
        table = doc.add_table(rows=len(table_rows), cols=width)
        table.style = "Table Grid"
        for i, row in enumerate(table_rows):
            for j, text in enumerate(row):
                table.cell(i, j).text = text
        table_rows.clear()

    for line in lines:
        if line.startswith("|"):
            table_rows.append(_cells(line))
            continue
        flush()
        if line.startswith("## "):
            doc.add_heading(line[3:].strip(), level=1)
        elif line.startswith("# "):
            doc.add_heading(line[2:].strip(), level=0)
        elif line.strip() == "____":
            doc.add_paragraph("")
            doc.add_paragraph("")
        else:
            doc.add_paragraph(line)
    flush()
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()
