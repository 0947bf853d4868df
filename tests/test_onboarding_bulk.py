"""Onboarding a whole county end to end (issue 16): links in bulk as a workbook, liaisons
inviting their own department, join digests, /roster, replacing a liaison, and inspectors who
left. The real Application, the outbox and the fake Bot API (Telegram's limits on a fast
clock); Beijing time is moved with bot.clock and the reminder engine run by the test."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bot import clock
from bot import reminders as engine
from bot.config import Settings
from tests.fakeapi import FakeBotApi, SentMessage
from tests.outbox_support import (
    ADMIN_ID,
    Admin,
    compose,
    db_of,
    running_bot,
    sender_of,
    settings_for,
    until,
)
from tests.test_imports_bot import run_cli

DAY = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Beijing
LINK = re.compile(r"start=([A-Za-z0-9_-]+)")
SURNAMES = "刘王李张陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "霞明华建国平安春秋冬梅兰竹菊松"
DEPARTMENT_NAMES = ("民政", "卫健", "教育", "公安", "消防", "文旅", "商务", "应急", "住建", "环境")
CODES = [f"D{n:02d}" for n in range(1, 11)]


class Clock:
    """Beijing time the test moves by hand."""

    def __init__(self) -> None:
        self.now = DAY

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def moment() -> Iterator[Clock]:
    c = Clock()
    clock.set_source(lambda: c.now)
    yield c
    clock.reset()


def quiet_scan(settings: Settings) -> Settings:
    """The engine's own scan once an hour: the test runs it when it has moved the clock."""
    reminders = replace(settings.tunables.reminders, scan_seconds=3600)
    return replace(settings, tunables=replace(settings.tunables, reminders=reminders))


def departments_csv() -> bytes:
    lines = ["部门编码,部门名称"]
    lines += [f"{code},县{name}局" for code, name in zip(CODES, DEPARTMENT_NAMES, strict=True)]
    return "\n".join(lines).encode("utf-8")


def inspector_name(i: int) -> str:
    return f"{SURNAMES[i % 20]}{GIVEN[i // 20]}洋"


def inspectors_csv(per_department: int, left: frozenset[str] = frozenset()) -> bytes:
    """`per_department` inspectors in each of the ten departments; with `left`, a 状态 column
    marks those certificate numbers 离岗."""
    header = "姓名,所属部门编码,执法证号" + (",状态" if left else "")
    lines = [header]
    for d, code in enumerate(CODES):
        for j in range(per_department):
            cert = f"{d + 1:02d}{j:06d}"
            row = f"{inspector_name(d * per_department + j)},{code},{cert}"
            if left:
                row += ",离岗" if cert in left else ",在岗"
            lines.append(row)
    return "\n".join(lines).encode("utf-8")


def links_in(document: SentMessage) -> dict[str, str]:
    """certificate -> code, from the workbook's first sheet; checks the QR sheet matches."""
    assert document.document is not None
    book = openpyxl.load_workbook(io.BytesIO(document.document.content))
    links, cards = book.worksheets
    rows = list(links.iter_rows(min_row=2, values_only=True))
    assert [c.value for c in links[1]][:4] == [
        "姓名",
        "部门",
        "执法证号",
        "邀请链接（只能使用一次）",
    ]
    assert len(cards._images) == len(rows)  # one printed QR code per person
    found = {}
    for _name, _dept, cert, link, _expires in rows:
        match = LINK.search(str(link))
        assert match, link
        found[str(cert)] = match.group(1)
    return found


async def joins_messages(api: FakeBotApi, uid: int) -> list[SentMessage]:
    return [m for m in api.chat_messages(uid) if "注册汇总" in m.text]


async def test_a_county_of_300_inspectors_onboards_in_few_actions(
    api: FakeBotApi, tmp_path: Path, moment: Clock
) -> None:
    api.add_user(ADMIN_ID, "县局管理员")
    admin = Admin(api)
    actions = 0
    moment.move(hours=-11)  # the evening before: joins are told in the morning (quiet hours)
    async with running_bot(quiet_scan(settings_for(api, tmp_path / "c.sqlite3"))) as app:
        db = db_of(app)
        # 1-2: the two directories
        [report] = (await admin.upload("部门.csv", departments_csv(), "部门", expect=2))[-1:]
        assert "新增 10" in report.text
        actions += 1
        [report] = (await admin.upload("人员.csv", inspectors_csv(30), "人员", expect=2))[-1:]
        assert "新增 300" in report.text
        actions += 1
        # 3-12: one liaison per department
        liaisons = {code: 5000 + n for n, code in enumerate(CODES)}
        for code, uid in liaisons.items():
            answer = await admin.say(f"/invite liaison {code}")
            actions += 1
            api.add_user(uid, f"{code}联络员")
            match = LINK.search(answer[-1].text)
            assert match, [m.text for m in answer]
            api.send_text(uid, f"/start {match.group(1)}")
        await until(lambda: all(api.sent_total(uid) >= 1 for uid in liaisons.values()))
        await engine.run_due(app)
        await sender_of(app).idle()
        assert not await joins_messages(api, ADMIN_ID)  # 23:00: nothing until the morning
        moment.move(hours=11)
        await engine.run_due(app)  # the administrator hears of the ten liaisons at once
        [first] = await until(lambda: joins_messages(api, ADMIN_ID))
        assert "10 人已通过您发出的邀请链接注册" in first.text

        # 13-15: three liaisons invite their own departments; one asks for another's: refused
        sheets: list[SentMessage] = []
        for code in CODES[:3]:
            before = api.sent_total(liaisons[code])
            api.send_text(liaisons[code], f"/invite inspectors {code}")
            actions += 1
            sent = await api.wait_for_messages(liaisons[code], before + 2, timeout=30)
            assert "新生成链接：30 人" in sent[before].text
            sheets.append(sent[before + 1])
        before = api.sent_total(liaisons["D01"])
        api.send_text(liaisons["D01"], "/invite inspectors D05")
        actions += 1
        [refused] = (await api.wait_for_messages(liaisons["D01"], before + 1))[before:]
        assert "只能为本部门" in refused.text and "县民政局" in refused.text
        # 17: the administrator, everyone else at once
        before = api.sent_total(ADMIN_ID)
        api.send_text(ADMIN_ID, "/invite inspectors all")  # 210 QR codes take a few seconds
        await api.wait_for_messages(ADMIN_ID, before + 2, timeout=60)
        [summary, sheet] = api.chat_messages(ADMIN_ID)[before:]
        actions += 1
        assert "新生成链接：<b>210</b>" in summary.html or "新生成链接：210" in summary.text
        assert "已有未使用的链接：90 人" in summary.text and "已经注册：0 人" in summary.text
        sheets.append(sheet)
        codes: dict[str, str] = {}
        for document in sheets:
            codes.update(links_in(document))
        assert len(codes) == 300 and len(set(codes.values())) == 300

        # 300 people press their links within ten minutes
        moment.move(minutes=10)
        users: dict[str, int] = {}
        for n, (cert, code) in enumerate(sorted(codes.items())):
            uid = 100_000 + n
            users[cert] = uid
            api.add_user(uid, f"用户{n}")  # a Telegram display name, not the directory name
            api.send_text(uid, f"/start {code}")
        await until(lambda: all(api.sent_total(u) >= 1 for u in users.values()), timeout=120)
        other = {
            cert: [m.text[:80] for m in api.chat_messages(u)]
            for cert, u in users.items()
            if "注册成功" not in api.chat_messages(u)[0].text
        }
        assert not other, other
        welcome = api.chat_messages(users["01000000"])[0]
        assert "注册成功" in welcome.text and "县民政局" in welcome.text
        row = await db.fetchone("SELECT count(*) FROM inspectors WHERE person_id IS NOT NULL")
        assert row is not None and row[0] == 300

        # joins are told as digests: the liaisons now, the administrator an hour after the last
        await engine.run_due(app)
        for code in CODES[:3]:
            [digest] = await until(lambda c=code: joins_messages(api, liaisons[c]))
            assert "30 人已通过您发出的邀请链接注册" in digest.text
        await sender_of(app).idle()
        assert len(await joins_messages(api, ADMIN_ID)) == 1
        moment.move(hours=1)
        await engine.run_due(app)
        await until(lambda: len(api.chat_messages(ADMIN_ID)) and _count(api) == 2)
        await engine.run_due(app)
        await sender_of(app).idle()
        digests = await joins_messages(api, ADMIN_ID)
        assert len(digests) == 2 <= 10
        assert "210 人已通过您发出的邀请链接注册" in digests[-1].text
        listed = re.findall(r"(\w+)（县\w+局 执法检查人员）", digests[-1].text)
        names = {inspector_name(i) for i in range(300)}
        assert len(listed) == 40 and set(listed) <= names  # the directory's names, not 用户…
        assert "另有 170 人" in digests[-1].text and "用户" not in digests[-1].text
        assert actions <= 20, actions

        # /roster matches the database (one person blocked the bot meanwhile)
        blocked = users["05000003"]
        api.block_bot(blocked)
        await until(
            lambda: db.fetchone(
                "SELECT 1 FROM people WHERE tg_user_id = ? AND reachable = 0", (blocked,)
            )
        )
        shown = "\n".join(m.text for m in await admin.say("/roster"))
        for code, name in zip(CODES, DEPARTMENT_NAMES, strict=True):
            [(registered, blocked_count)] = [
                tuple(r)
                for r in await db.fetchall(
                    "SELECT sum(p.reachable), sum(1 - p.reachable) FROM inspectors i"
                    " JOIN people p ON p.id = i.person_id WHERE i.department_code = ?",
                    (code,),
                )
            ]
            section = shown.split(f"县{name}局（{code}）")[1].split("（D")[0]
            assert f"✅ 已注册（{registered}）" in section
            assert ("⛔ 已屏蔽机器人（1）" in section) == (blocked_count == 1)
        assert "已注册 299 · 有未使用的链接 0 · 从未打开机器人 0 · 已屏蔽机器人 1" in shown
        assert f"⛔ 已屏蔽机器人（1）：{inspector_name(123)} 05000003" in shown

        # /me shows the department's name
        [me] = await _say(api, users["02000007"], "/me")
        assert "县卫健局" in me.text and "县卫健局 执法检查人员" in me.text

        # one leaves: re-imported 离岗, then a broadcast to every inspector does not reach them
        gone = users["03000004"]
        [report] = (
            await admin.upload(
                "人员.csv", inspectors_csv(30, frozenset({"03000004"})), "人员", expect=2
            )
        )[-1:]
        assert "更新 1" in report.text
        before = api.sent_total(gone)
        confirm = await compose(admin, "全部执法检查人员", "周五前完成自查")
        assert "将发送给 298 人" in confirm.text
        await admin.press(confirm, "立即发送")
        await until(lambda: api.sent_total(users["03000005"]) >= 2, timeout=60)
        await sender_of(app).idle()
        assert api.sent_total(gone) == before


def _count(api: FakeBotApi) -> int:
    return len([m for m in api.chat_messages(ADMIN_ID) if "注册汇总" in m.text])


async def _say(api: FakeBotApi, uid: int, text: str, expect: int = 1) -> list[SentMessage]:
    before = api.sent_total(uid)
    api.send_text(uid, text)
    await api.wait_for_messages(uid, before + expect)
    return api.chat_messages(uid)[before:]


@pytest.fixture
async def api() -> Any:
    from tests.outbox_support import FAST_CLOCK

    fake = FakeBotApi(limits=FAST_CLOCK)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def small_county(app: Any, api: FakeBotApi, admin: Admin) -> None:
    await admin.upload("部门.csv", departments_csv(), "部门", expect=2)
    await admin.upload("人员.csv", inspectors_csv(2), "人员", expect=2)


async def join(api: FakeBotApi, uid: int, name: str, link_text: str) -> SentMessage:
    match = LINK.search(link_text)
    assert match, link_text
    api.add_user(uid, name)
    [welcome] = await _say(api, uid, f"/start {match.group(1)}")
    return welcome


async def test_links_are_reissued_only_on_request(
    api: FakeBotApi, tmp_path: Path, moment: Clock
) -> None:
    api.add_user(ADMIN_ID, "县局管理员")
    admin = Admin(api)
    moment.move(hours=-11)  # 23:00: no join digest comes between the answers checked
    async with running_bot(quiet_scan(settings_for(api, tmp_path / "r.sqlite3"))) as app:
        await small_county(app, api, admin)
        [first, sheet] = await admin.say("/invite inspectors D01", expect=2)
        assert "新生成链接：2 人" in first.text
        old = links_in(sheet)
        [again] = await admin.say("/invite inspectors D01")
        assert "新生成链接：0 人" in again.text and "已有未使用的链接：2 人" in again.text
        assert "/invite inspectors D01 重发" in again.text
        [fresh, sheet] = await admin.say("/invite inspectors D01 重发", expect=2)
        assert "2 人的旧链接已作废并重新生成" in fresh.text
        new = links_in(sheet)
        assert set(new) == set(old) and not set(new.values()) & set(old.values())
        api.add_user(7001, "某人")
        [refused] = await _say(api, 7001, f"/start {old['01000000']}")
        assert "已被重新生成的链接取代" in refused.text
        await join(api, 7001, "某人", f"start={new['01000000']}")
        [third] = await admin.say("/invite inspectors D01")
        assert "已经注册：1 人" in third.text and "已有未使用的链接：1 人" in third.text


async def test_liaison_delegation_and_switching_it_off(
    api: FakeBotApi, tmp_path: Path, moment: Clock
) -> None:
    api.add_user(ADMIN_ID, "县局管理员")
    admin = Admin(api)
    async with running_bot(quiet_scan(settings_for(api, tmp_path / "l.sqlite3"))) as app:
        db = db_of(app)
        await small_county(app, api, admin)
        [link] = await admin.say("/invite liaison D02")
        await join(api, 6002, "卫健联络员", link.text)
        # "all" is the liaison's own department only; another department is refused
        [_, sheet] = await _say(api, 6002, "/invite inspectors all", expect=2)
        assert set(links_in(sheet)) == {"02000000", "02000001"}
        [one] = await _say(api, 6002, "/invite inspector D02 02000001")
        assert "start=" in one.text
        for text in ("/invite inspectors D01", "/invite inspector D01 01000000"):
            [refused] = await _say(api, 6002, text)
            assert "只能为本部门（县卫健局）" in refused.text
        [refused] = await _say(api, 6002, "/invite liaison D02")
        assert "没有使用这个功能的权限" in refused.text
        [refused] = await _say(api, 6002, "/roster D01")
        assert "没有使用这个功能的权限" in refused.text
        [roster] = await _say(api, 6002, "/roster")
        assert "县卫健局" in roster.text and "县民政局" not in roster.text
        rows = await db.fetchall(
            "SELECT detail FROM audit_log WHERE outcome = 'refused'"
            " AND action IN ('command.invite', 'command.roster') ORDER BY id"
        )
        assert len(rows) == 4
        # joins of a liaison's links are told to the liaison, not to the administrator
        await engine.run_due(app)
        await sender_of(app).idle()
        before = _count(api)
        await join(api, 7002, "小吴", f"start={links_in(sheet)['02000000']}")
        await engine.run_due(app)
        [digest] = await until(lambda: joins_messages(api, 6002))
        assert inspector_name(2) in digest.text
        await sender_of(app).idle()
        assert _count(api) == before

    settings = quiet_scan(settings_for(api, tmp_path / "l.sqlite3"))
    off = replace(settings, tunables=replace(settings.tunables, liaison_invites=False))
    async with running_bot(off) as app:
        [refused] = await _say(api, 6002, "/invite inspectors D02")
        assert "管理员已关闭联络员生成邀请链接的功能" in refused.text
        row = await db_of(app).fetchone(
            "SELECT count(*) FROM audit_log WHERE detail LIKE '%switched_off%'"
        )
        assert row is not None and row[0] == 1


async def test_replacing_a_liaison_keeps_the_department(
    api: FakeBotApi, tmp_path: Path, moment: Clock
) -> None:
    api.add_user(ADMIN_ID, "县局管理员")
    admin = Admin(api)
    moment.move(hours=-11)  # 23:00: no join digest comes between the answers checked
    async with running_bot(quiet_scan(settings_for(api, tmp_path / "p.sqlite3"))) as app:
        db = db_of(app)
        await small_county(app, api, admin)
        [link] = await admin.say("/invite liaison D01")
        await join(api, 6001, "老联络员", link.text)
        [ask] = await admin.say("/invite liaison D01")
        assert "已有联络员：老联络员" in ask.text
        await admin.press(ask, "替换现有联络员")
        card = admin.current(ask)
        assert "替换" in card.text and "老联络员" in card.text
        before = api.sent_total(6001)
        await join(api, 6011, "新联络员", card.text)
        told = await api.wait_for_messages(6001, before + 1)
        assert "新联络员 已接替您" in told[-1].text
        rows = await db.fetchall(
            "SELECT p.tg_user_id FROM liaisons l JOIN people p ON p.id = l.person_id"
            " WHERE l.department_code = 'D01'"
        )
        assert [r[0] for r in rows] == [6011]
        [me] = await _say(api, 6001, "/me")
        assert "还没有注册" in me.text or "尚未注册" in me.text
        [tasks] = await _say(api, 6011, "/help")
        assert "/newtask" in tasks.text
        # adding instead keeps both
        [ask] = await admin.say("/invite liaison D01")
        await admin.press(ask, "增加一名联络员")
        await join(api, 6012, "第二联络员", admin.current(ask).text)
        rows = await db.fetchall("SELECT count(*) FROM liaisons WHERE department_code = 'D01'")
        assert rows[0][0] == 2


def test_cli_writes_the_same_workbook(tmp_path: Path) -> None:
    env = {"BOT_DB": str(tmp_path / "cli.sqlite3"), "BOT_ADMINS": str(ADMIN_ID)}
    for kind, data in (("departments", departments_csv()), ("inspectors", inspectors_csv(3))):
        source = tmp_path / f"{kind}.csv"
        source.write_bytes(data)
        assert run_cli("import", kind, str(source), env=env).returncode == 0
    out = tmp_path / "links.xlsx"
    args = ["invites", "inspectors", "D03", "--out", str(out), "--bot-username", "@county_bot"]
    done = run_cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    assert "新生成链接 3 人" in done.stdout
    book = openpyxl.load_workbook(out)
    rows = list(book.worksheets[0].iter_rows(min_row=2, values_only=True))
    assert sorted(r[2] for r in rows) == ["03000000", "03000001", "03000002"]
    assert all(str(r[3]).startswith("https://t.me/county_bot?start=") for r in rows)
    assert len(book.worksheets[1]._images) == 3
    again = run_cli(*args, "--reissue", env=env)
    assert "其中 3 人的旧链接已作废" in again.stdout
    unknown = run_cli(
        "invites", "inspectors", "NOPE", "--out", str(out), "--bot-username", "b", env=env
    )
    assert unknown.returncode == 2 and "NOPE" in unknown.stderr
