"""The bulk invitation workbook: one row per inspector (name, department, 执法证号, the link,
its expiry) on the first sheet, and on the second the same people with a printed QR code each,
for the office that hands links out on paper. Texts come from templates/zh/onboarding/
links_sheet.j2; the QR codes are PNGs from `qrcode` drawn with Pillow, which openpyxl needs to
embed images anyway."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import qrcode
from openpyxl import Workbook
from openpyxl.drawing.image import Image
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from qrcode.image.pil import PilImage

from bot.render import Renderer

COLUMNS = ("name", "department", "certificate_no", "link", "expires", "qr")
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_QR_PIXELS = 132  # about 3.5 cm printed: a phone reads it easily
_QR_ROW_POINTS = 104


@dataclass(frozen=True)
class LinkRow:
    name: str
    department: str
    certificate_no: str
    link: str
    expires: datetime  # Beijing time


@dataclass(frozen=True)
class Sheet:
    file_name: str
    data: bytes


def qr_png(link: str) -> bytes:
    """The link as a QR code PNG. One fixed mask pattern: letting the library try all eight
    and keep the best is seven times slower, and any mask reads the same."""
    code = qrcode.QRCode(box_size=4, border=2, mask_pattern=0, image_factory=PilImage)
    code.add_data(link)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return buffer.getvalue()


def _safe(text: str) -> str:
    """A cell that Excel would take for a formula keeps its text (a leading apostrophe)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def build(renderer: Renderer, rows: Sequence[LinkRow], *, department: str, day: str) -> Sheet:
    lines = renderer.lines("onboarding/links_sheet.j2", department=department, day=day)
    file_name, links_title, qr_title, *headers = lines
    labels = dict(zip(COLUMNS, headers, strict=True))
    book = Workbook()
    links = book.active
    assert links is not None
    links.title = links_title
    links.append([labels[c] for c in COLUMNS[:5]])
    for row in rows:
        links.append(
            [
                _safe(row.name),
                _safe(row.department),
                _safe(row.certificate_no),
                row.link,
                row.expires.strftime("%Y-%m-%d %H:%M"),
            ]
        )
    for index, width in enumerate((12, 24, 18, 60, 20), start=1):
        links.column_dimensions[get_column_letter(index)].width = width
    for cell in links[1]:
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
    for index in range(2, len(rows) + 2):
        links.cell(row=index, column=3).number_format = "@"
        cell = links.cell(row=index, column=4)
        cell.hyperlink = cell.value
    links.freeze_panes = "A2"

    cards = book.create_sheet(qr_title)
    cards.append([labels[c] for c in ("name", "department", "certificate_no", "qr")])
    for cell in cards[1]:
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
    for index, width in enumerate((12, 24, 18, 22), start=1):
        cards.column_dimensions[get_column_letter(index)].width = width
    middle = Alignment(vertical="center", wrap_text=True)
    for number, row in enumerate(rows, start=2):
        for column, value in enumerate(
            (_safe(row.name), _safe(row.department), _safe(row.certificate_no)), start=1
        ):
            cards.cell(row=number, column=column, value=value).alignment = middle
        cards.row_dimensions[number].height = _QR_ROW_POINTS
        image = Image(io.BytesIO(qr_png(row.link)))
        image.width = image.height = _QR_PIXELS
        cards.add_image(image, f"D{number}")
    cards.print_title_rows = "1:1"
    buffer = io.BytesIO()
    book.save(buffer)
    return Sheet(f"{file_name}.xlsx", buffer.getvalue())
