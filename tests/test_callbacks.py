"""Button data parsed in one place (bot.callbacks)."""

from __future__ import annotations

from bot.callbacks import parse


def test_parts_and_numbers() -> None:
    found = parse("tk:12:join:WJW:x", "tk", parts=2)
    assert found is not None
    assert found.number(0) == 12 and found.text(1) == "join" and found.rest(2) == "WJW:x"
    assert found.text(9, "none") == "none"


def test_malformed_data_is_refused() -> None:
    for data in (None, "", "tk", "tk:", "rv:p", "tk:x:join", "tkx:1:join", "tk:1" + "9" * 20):
        assert parse(data, "tk", parts=2) is None, data
    assert parse("rs:g:x", "rs", parts=2, numbers=(1,)) is None
    assert parse("rs:g:7", "rs", parts=2, numbers=(1,)) is not None
    assert parse("rm:", "rm", parts=1, numbers=()) is None


def test_no_numbers_wanted() -> None:
    found = parse("bc:list", "bc", numbers=())
    assert found is not None and found.parts == ("list",)
