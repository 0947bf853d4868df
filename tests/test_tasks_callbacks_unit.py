"""Codes in the tasks feature's button data (bot.features.tasks.callbacks): a round trip
through `ref` and `resolve`, within Telegram's 64 bytes, and parsed by bot.callbacks."""

from __future__ import annotations

from bot.callbacks import parse
from bot.features.tasks.callbacks import ref, resolve
from bot.render import MAX_CALLBACK_BYTES


def test_a_short_code_is_sent_as_it_is() -> None:
    assert ref("tk:12:join:", "SCJG") == "SCJG"
    assert resolve("SCJG", ["MZJ", "SCJG"]) == "SCJG"


def test_a_long_code_or_one_with_a_tilde_is_hashed_and_resolved_back() -> None:
    codes = ["县" * 30, "~odd", "A:B:C"]
    for code in codes:
        prefix = "tk:123456:decl:"
        arg = ref(prefix, code)
        assert len((prefix + arg).encode()) <= MAX_CALLBACK_BYTES
        assert resolve(arg, codes) == code
        found = parse(prefix + arg, "tk", parts=2)
        assert found is not None and resolve(found.rest(2), codes) == code
    assert ref("tk:1:join:", "~odd").startswith("~") and ref("tk:1:join:", "~odd") != "~odd"


def test_an_unknown_argument_resolves_to_nothing() -> None:
    assert resolve("~000000000000", ["县" * 30]) is None
    assert resolve("OTHER", ["MZJ"]) is None
