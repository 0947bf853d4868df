import pytest

from bot.render import Renderer, parse_keyboard, split_html, visible_length


def test_visible_length_counts_parsed_text_in_utf16() -> None:
    assert visible_length("<b>a&amp;b</b>") == 3
    assert visible_length("😀") == 2  # one emoji is two UTF-16 code units


def test_split_keeps_parts_under_limit_and_lines_whole() -> None:
    lines = [f"<b>第{i}行</b> 企业 &lt;名称&gt;" for i in range(1000)]
    parts = split_html("\n".join(lines), limit=4096)
    assert len(parts) > 1
    assert all(visible_length(p) <= 4096 for p in parts)
    assert "\n".join(parts).split("\n") == lines


def test_keyboard_block_and_escaping() -> None:
    rows = parse_keyboard("[A &amp; B](x:1) [链接](url:https://t.me/x)\n\n[C](y)")
    assert rows[0][0].text == "A & B" and rows[0][0].data == "x:1"
    assert rows[0][1].url == "https://t.me/x"
    assert rows[1][0].data == "y"
    rows = parse_keyboard("[养老机构[民办]](tk:1) [A](tk:2)")
    assert [(b.text, b.data) for b in rows[0]] == [("养老机构[民办]", "tk:1"), ("A", "tk:2")]
    with pytest.raises(ValueError, match="1-64 bytes"):
        parse_keyboard("[x](" + "a" * 65 + ")")


def test_every_template_parses() -> None:
    renderer = Renderer()
    for name in renderer.env.list_templates():
        renderer.env.get_template(name)
