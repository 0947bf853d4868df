"""Unified social credit codes (统一社会信用代码, GB 32100-2015).

18 characters from the alphabet 0-9 and A-Z without I, O, Z, S, V:
position 1 registration authority (登记管理部门码: 1-9, A, N, Y …), position 2 organisation
category, positions 3-8 the administrative division code (digits), 9-17 the organisation code,
18 the check character. The check character is computed by `stdnum.cn.uscc`.

`stdnum.cn.uscc.validate` insists that the first 8 characters are digits, which rejects the
codes issued by non-digit authorities (e.g. "N2…" rural collective economic organisations,
"Y1…" other authorities); this module checks positions 1-2 against the alphabet instead.
"""

from __future__ import annotations

import re
import unicodedata
from operator import mul

from stdnum.cn import uscc

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ALLOWED = frozenset(ALPHABET)
_VALID_SHAPE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")
# Whitespace (incl. full-width and no-break spaces), zero-width characters, hyphens.
_REMOVE = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff\-‐‑–—]+")

MSG_EMPTY = "不能为空"
MSG_LENGTH = "应为 18 位，实际 {length} 位 ({code})"
MSG_CHARACTER = (
    "第 {position} 位「{char}」不是允许的字符"
    "（只能是数字和除 I、O、Z、S、V 以外的大写字母）({code})"
)
MSG_REGION = "第 3–8 位应为 6 位数字的行政区划码 ({code})"
MSG_CHECK = "校验位不正确 ({code})"


def normalize_credit_code(text: str) -> str:
    """Strip, remove spaces and hyphens, full-width to half-width, upper-case."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return _REMOVE.sub("", text).upper()


_VALUE = {char: index for index, char in enumerate(ALPHABET)}
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def check_character(prefix17: str) -> str:
    """The check character (position 18) for the first 17 characters.

    The same computation as `stdnum.cn.uscc.calc_check_digit`, table-driven: stdnum's version
    spends most of a 100,000-row import in generator expressions."""
    total = sum(map(mul, map(_VALUE.__getitem__, prefix17[:17]), _WEIGHTS))
    return ALPHABET[-total % 31]


def stdnum_check_character(prefix17: str) -> str:
    """The reference implementation (python-stdnum), used to cross-check `check_character`."""
    return str(uscc.calc_check_digit(prefix17))


def credit_code_error(text: str) -> str | None:
    """None if `text` (after normalisation) is a valid code, else the reason in Chinese."""
    if len(text) == 18 and _VALID_SHAPE.fullmatch(text):  # already normalised: the usual case
        return None if check_character(text) == text[17] else MSG_CHECK.format(code=text)
    code = normalize_credit_code(text)
    if _VALID_SHAPE.fullmatch(code):
        return None if check_character(code[:17]) == code[17] else MSG_CHECK.format(code=code)
    if not code:
        return MSG_EMPTY
    if len(code) != 18:
        return MSG_LENGTH.format(length=len(code), code=code)
    for position, char in enumerate(code, start=1):
        if char not in _ALLOWED:
            return MSG_CHARACTER.format(position=position, char=char, code=code)
    return MSG_REGION.format(code=code)


def is_valid_credit_code(text: str) -> bool:
    return credit_code_error(text) is None


def make_credit_code(prefix17: str) -> str:
    """Complete 17 characters with their check character (for tests and generated data)."""
    prefix = normalize_credit_code(prefix17)
    if len(prefix) != 17 or not _VALID_SHAPE.fullmatch(prefix + "0"):
        raise ValueError(f"not 17 characters of a credit code: {prefix17!r}")
    return prefix + check_character(prefix)
