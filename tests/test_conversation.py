"""The conversation rule across every feature, end to end over HTTP: one prompt at a time.

For every typed prompt X (each started the way a user starts it), and every other flow Y: start
X, then start Y with its own command or button and type (or upload) Y's answer. Y gets it, X
records nothing, and the person was told that X was dropped. One person holds every role here
(administrator, liaison of both departments, inspector), so every flow is theirs to start.
Answers that would end a flow for good (a 不参加 reason, a 回避 reason, a return reason, an
inspector count) are given in a form the flow refuses with its own message: that still shows
which flow took the text, and the flow can be started again for the next pair.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import clock
from bot.config import DrawTunables, InvitationTunables
from bot.domain.tasks import Answer, TaskState
from bot.store import prompts
from bot.store import tasks as task_store
from tests.fakeapi import FakeBotApi, Limits, SentMessage
from tests.outbox_support import (
    ADMIN_ID,
    add_department,
    add_person,
    db_of,
    open_chat,
    running_bot,
    sender_of,
    settings_for,
    until,
)

P = ADMIN_ID  # the one person who starts every flow
INS3 = 4003
MONDAY_10 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Beijing Monday 10:00


@pytest.fixture(autouse=True)
def fixed_clock() -> Any:
    clock.set_source(lambda: MONDAY_10)
    yield
    clock.reset()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi(limits=Limits(private_burst=200, private_per_second=200.0))
    await fake.start()
    open_chat(fake, P, "县局管理员")
    open_chat(fake, INS3, "卫健甲")
    try:
        yield fake
    finally:
        await fake.stop()


# -- the person's side of the chat ---------------------------------------------------------------


@dataclass
class Chat:
    api: FakeBotApi
    app: Any
    saved: SentMessage | None = None  # an entry's confirmation, with 记录行政指导
    serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def after(self, before: int) -> list[SentMessage]:
        return self.api.chat_messages(P)[before:]

    async def say(
        self, text: str, until_text: str = "", uid: int = P, button: str = ""
    ) -> SentMessage:
        """Send `text`; return the first answer containing `until_text` (and `button`)."""
        before = self.api.sent_total(uid)
        self.api.send_text(uid, text)
        return await self._wait(uid, before, until_text, button)

    async def upload(self, name: str, content: bytes, until_text: str) -> SentMessage:
        before = self.api.sent_total(P)
        self.api.send_document(P, name, content)
        return await self._wait(P, before, until_text, "")

    async def press(self, message: SentMessage, label: str) -> None:
        current = next(
            m for m in self.api.chat_messages(message.chat_id) if m.message_id == message.message_id
        )
        data = next(d for row in current.buttons for t, d in row if label in t)
        answers = len(self.api.callback_answers)
        self.api.press_button(P, message.chat_id, message.message_id, data)
        await self.api.wait_for(lambda: len(self.api.callback_answers) > answers)

    async def _wait(self, uid: int, before: int, text: str, button: str) -> SentMessage:
        def found() -> SentMessage | None:
            for m in self.api.chat_messages(uid)[before:]:
                if text in m.text and (not button or any(button in b for b in m.button_texts)):
                    return m
            return None

        message: SentMessage = await until(found)
        return message

    async def prompt(self) -> tuple[str, bool] | None:
        """The person's prompt and whether it is armed (a question that went through the
        outbox is armed once sent: bot.replies)."""
        async with db_of(self.app).transaction() as conn:
            found = await prompts.of(conn, P)
        return (found.kind, found.armed) if found else None

    async def asked(self, kind: str) -> None:
        """Wait until the person's prompt is `kind` and its question was delivered."""
        await until(lambda: self._is(kind))

    async def _is(self, kind: str) -> bool:
        return await self.prompt() == (kind, True)

    async def column(self, sql: str) -> str:
        rows = await db_of(self.app).fetchall(sql)
        return " | ".join(str(v) for r in rows for v in r if v is not None)


# -- the flows -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    kind: str
    start: Callable[[Chat], Awaitable[None]]
    # types Y's answer (built from a unique token), waits for the reply that shows Y took it,
    # and returns what was typed (or the file's name)
    answer: Callable[[Chat, str], Awaitable[str]]
    # where this flow records what it is told: the token of another flow's answer never lands here
    home: str


async def _start_newtask(c: Chat) -> None:
    await c.say("/newtask", "第一步")


async def _answer_newtask(c: Chat, token: str) -> str:
    await c.say(f"行业{token}", f"行业/场景：行业{token}")
    return f"行业{token}"


async def _start_broadcast(c: Chat) -> None:
    card = await c.say("/broadcast", "", button="放弃")
    labels = " ".join(card.button_texts)
    for label in ("全部部门联络员", "修改内容"):  # a new draft, or one with content already
        if label in labels:
            await c.press(card, label)
            return  # otherwise the draft's card itself asks for the content again


async def _answer_broadcast(c: Chat, token: str) -> str:
    await c.say(f"通知{token}", "", button="立即发送")
    assert f"通知{token}" in await c.column("SELECT text_html FROM broadcasts")
    return f"通知{token}"


async def _start_training(c: Chat) -> None:
    await c.say("/training 1", "请发送培训时间")


async def _answer_training(c: Chat, token: str) -> str:
    day = 1 + int(token) % 20
    await c.say(f"2026-12-{day:02d} 15:{day:02d}", "请发送培训地点")
    return f"2026-12-{day:02d} 15:{day:02d}"


async def _start_leave(c: Chat) -> None:
    notice = await until(
        lambda: [m for m in c.api.chat_messages(P) if "请假" in " ".join(m.button_texts)]
    )
    await c.press(notice[0], "请假")


async def _answer_leave(c: Chat, token: str) -> str:
    await c.say(f"出差{token}", f"出差{token}")
    return f"出差{token}"


async def _start_report(c: Chat) -> None:
    card = await c.say("/report", "", button="上传")
    await c.press(card, "上传")


async def _answer_report(c: Chat, token: str) -> str:
    await c.upload(f"进度报告{token}.docx", b"PK\x03\x04 report", f"进度报告{token}.docx")
    return f"进度报告{token}.docx"


async def _start_drawimport(c: Chat) -> None:
    await c.say("/drawimport 3", "平台")


async def _answer_drawimport(c: Chat, token: str) -> str:
    await c.upload(f"平台{token}.csv", "企业名称\n某企业\n".encode(), "")
    assert await c.column("SELECT count(*) FROM draws WHERE task_id = 3") == "0"
    return f"平台{token}.csv"


async def _start_conflict(c: Chat) -> None:
    notice = next(
        m
        for m in c.api.chat_messages(P)
        if "检查任务通知" in m.text
        and any("申请回避" in b for b in m.button_texts)
        and "#2" in m.text
    )
    await c.press(notice, "申请回避：对象 1")


async def _answer_conflict(c: Chat, token: str) -> str:
    await c.say("回避" * 160 + token, "申请回避")  # longer than 300: asked again
    return "回避" * 160 + token


async def _start_decline(c: Chat) -> None:
    detail = await c.say("/task 4", "#4", button="不参加")
    await c.press(detail, "不参加")


async def _answer_decline(c: Chat, token: str) -> str:
    await c.say("理由" * 260 + token, "")  # longer than 500: refused by the decline flow
    assert await c.column("SELECT answer FROM task_invitations WHERE task_id = 4") == "pending"
    return "理由" * 260 + token


async def _start_cancel(c: Chat) -> None:
    detail = await c.say("/task 4", "#4", button="取消任务")
    await c.press(detail, "取消任务")


async def _answer_cancel(c: Chat, token: str) -> str:
    await c.say(f"调整{token}", f"取消原因：调整{token}")
    return f"调整{token}"


async def _start_count(c: Chat) -> None:
    detail = await c.say("/task 4", "#4", button="县卫健委：参加")
    before = c.api.sent_total(P)
    await c.press(detail, "县卫健委：参加")
    join = await c._wait(P, before, "", "下一步")
    await c.press(join, "下一步")


async def _answer_count(c: Chat, token: str) -> str:
    await c.say(str(100 + int(token)), "50")  # more than 50: the count flow asks again
    return str(100 + int(token))


async def _start_return(c: Chat) -> None:
    review = await c.say("/review 1", "", button="退回")
    await c.press(review, "退回")


async def _answer_return(c: Chat, token: str) -> str:
    await c.say("退回" * 260 + token, "500")  # longer than 500: the return flow refuses it
    return "退回" * 260 + token


async def _start_note(c: Chat) -> None:
    pick = await c.say("/r", "录入检查结果")
    labels = ["幸福养老院1", "未发现问题", "书面核查", "添加备注"]
    if "请选择企业" not in pick.text:
        labels.insert(0, "#1")
    step = pick
    for label in labels:
        edits = _edits(c, step)
        await c.press(step, label)
        await until(lambda e=edits: _edits(c, step) > e)


def _edits(c: Chat, message: SentMessage) -> int:
    return next(m.edit_count for m in c.api.chat_messages(P) if m.message_id == message.message_id)


async def _answer_note(c: Chat, token: str) -> str:
    await c.say(f"备注{token}", f"备注{token}")
    return f"备注{token}"


async def _start_guidance(c: Chat) -> None:
    assert c.saved is not None
    await c.press(c.saved, "记录行政指导")


async def _answer_guidance(c: Chat, token: str) -> str:
    await c.say(f"指导{token}", "已记录行政指导")
    assert f"指导{token}" in await c.column("SELECT guidance FROM results")
    return f"指导{token}"


FLOWS = [
    Flow(
        "tasks.propose",
        _start_newtask,
        _answer_newtask,
        "SELECT data FROM task_flows WHERE family = 'propose'",
    ),
    Flow(
        "broadcast.content",
        _start_broadcast,
        _answer_broadcast,
        "SELECT text_html FROM broadcasts",
    ),
    Flow(
        "training.details",
        _start_training,
        _answer_training,
        "SELECT place || notes FROM trainings",
    ),
    Flow("training.leave", _start_leave, _answer_leave, "SELECT reason FROM training_answers"),
    Flow("reports.file", _start_report, _answer_report, "SELECT file_name FROM quarterly_reports"),
    Flow("draw.import", _start_drawimport, _answer_drawimport, "SELECT seed FROM draws"),
    Flow("draw.conflict", _start_conflict, _answer_conflict, "SELECT reason FROM draw_conflicts"),
    Flow(
        "tasks.decline",
        _start_decline,
        _answer_decline,
        "SELECT reason FROM task_invitations",
    ),
    Flow(
        "tasks.cancel",
        _start_cancel,
        _answer_cancel,
        "SELECT cancel_reason FROM tasks UNION ALL"
        " SELECT data FROM task_flows WHERE kind = 'cancel'",
    ),
    Flow(
        "tasks.count",
        _start_count,
        _answer_count,
        "SELECT CAST(inspectors AS TEXT) FROM task_invitations UNION ALL"
        " SELECT data FROM task_flows WHERE kind = 'join'",
    ),
    Flow("results.return", _start_return, _answer_return, "SELECT return_reason FROM results"),
    Flow(
        "results.note",
        _start_note,
        _answer_note,
        "SELECT note FROM results UNION ALL SELECT data FROM result_flows",
    ),
    Flow("results.guidance", _start_guidance, _answer_guidance, "SELECT guidance FROM results"),
]


# -- the county: four tasks in four states, one person in every role ----------------------------


@asynccontextmanager
async def county(api: FakeBotApi, tmp_path: Path) -> AsyncIterator[Chat]:
    settings = settings_for(api, tmp_path / "c.sqlite3")
    tunables = replace(
        settings.tunables,
        invitations=InvitationTunables(scan_seconds=3600),
        draw=DrawTunables(scan_seconds=3600),
    )
    async with running_bot(replace(settings, tunables=tunables)) as app:
        db = db_of(app)
        now = clock.now_db()
        await add_department(db, "MZJ", "县民政局")
        await add_department(db, "WJW", "县卫健委")
        for cert, name, dept in (("MZ001", "县局管理员", "MZJ"), ("WJ001", "卫健甲", "WJW")):
            await db.execute(
                "INSERT INTO inspectors (certificate_no, name, department_code, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?)",
                (cert, name, dept, now, now),
            )
        person = await add_person(
            db, P, "县局管理员", liaison_of="MZJ", inspector_certificate="MZ001"
        )
        await db.execute(
            "INSERT INTO liaisons (person_id, department_code, created_at) VALUES (?, 'WJW', ?)",
            (person, now),
        )
        await add_person(db, INS3, "卫健甲", inspector_certificate="WJ001")
        for code, name, dept in (
            ("MZ-01", "养老机构安全", "MZJ"),
            ("WJ-01", "医疗卫生", "WJW"),
            ("MZ-02", "旅馆安全", "MZJ"),
            ("WJ-02", "公共卫生", "WJW"),
        ):
            await db.execute(
                "INSERT INTO items (code, name, department_code, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (code, name, dept, now, now),
            )
        for i, industry, name in (
            (1, "养老机构", "幸福养老院1"),
            (2, "养老机构", "幸福养老院2"),
            (3, "宾馆旅店", "平安宾馆1"),
            (4, "宾馆旅店", "平安宾馆2"),
        ):
            await db.execute(
                "INSERT INTO objects (credit_code, name, industry, address, risk_class, status,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, 'D', '在业', ?, ?)",
                (f"91000000000000{i:04d}", name, industry, f"城关镇{i}号", now, now),
            )
        async with db.transaction() as conn:
            for industry, items, state in (
                ("养老机构", (["MZ-01"], ["WJ-01"]), TaskState.CONFIRMED),  # 1: drawn, results
                ("宾馆旅店", (["MZ-02"], ["WJ-02"]), TaskState.CONFIRMED),  # 2: drawn (回避)
                ("养老机构", (["MZ-01"], ["WJ-01"]), TaskState.CONFIRMED),  # 3: /drawimport
                ("养老机构", (["MZ-01"], ["WJ-01"]), TaskState.INVITING),  # 4: answers, cancel
            ):
                task_id = await task_store.create(
                    conn,
                    industry=industry,
                    lead="MZJ",
                    lead_items=items[0],
                    start=date(2026, 12, 7),
                    end=date(2026, 12, 18),
                    deadline=MONDAY_10 + timedelta(days=3),
                    notes="",
                    proposed_by=P,
                    partners=["WJW"],
                )
                if state is TaskState.CONFIRMED:
                    await task_store.set_answer(
                        conn, task_id, "WJW", Answer.JOINED, actor=P, items=items[1], inspectors=1
                    )
                    await task_store.move(
                        conn, task_id, TaskState.INVITING, state, joint=1, confirmed_at=now
                    )
        c = Chat(api, app)
        for task in (1, 2):
            await c.say(f"/draw {task}", "抽取")
            await until(
                lambda t=task: [
                    m
                    for m in api.chat_messages(P)
                    if "检查任务通知" in m.text and f"#{t}" in m.text
                ]
            )
        await sender_of(app).idle()
        # an entry of each department on task 1: 卫健甲's awaits review by P (WJW's liaison);
        # P's own confirmation carries 记录行政指导
        await c.say("/r 1 1 1 书面", "已录入检查结果", uid=INS3)
        c.saved = await c.say("/r 1 2 1 书面", "已录入检查结果")
        # a training for task 3 that P is invited to (参加 / 请假)
        await c.say("/training 3", "请发送培训时间")
        await c.say("2026-12-04 09:00", "请发送培训地点")
        await c.say("县民政局三楼", "请发送备注")
        await c.say("无", "")
        await until(lambda: [m for m in api.chat_messages(P) if "请假" in " ".join(m.button_texts)])
        await sender_of(app).idle()
        yield c


@pytest.mark.parametrize("x", FLOWS, ids=[f.kind for f in FLOWS])
async def test_a_newer_flow_takes_the_answer_and_the_older_records_nothing(
    api: FakeBotApi, tmp_path: Path, x: Flow
) -> None:
    async with county(api, tmp_path) as c:
        for y in FLOWS:
            if y is x:
                continue
            await x.start(c)
            await c.asked(x.kind)
            before = api.sent_total(P)
            await y.start(c)
            await c.asked(y.kind)  # X was dropped the moment Y began
            # (a reply Telegram answered 429 goes through the outbox: it may come a little later)
            told = await until(
                lambda b=before: [m.text for m in c.after(b) if "已放弃" in m.text], timeout=15.0
            )
            assert told, f"{x.kind} dropped by {y.kind} without a word"
            typed = await y.answer(c, str(next(c.serial)))
            assert typed not in await c.column(x.home), f"{x.kind} took {y.kind}'s answer"
            assert (await c.prompt() or ("", False))[0] != x.kind


async def test_a_prompt_expires_and_says_so(api: FakeBotApi, tmp_path: Path) -> None:
    async with county(api, tmp_path) as c:
        await _start_cancel(c)
        await c.asked("tasks.cancel")
        clock.set_source(lambda: MONDAY_10 + timedelta(minutes=31))
        await c.say("明天开会吗", "已等待超过 30 分钟")
        assert await c.prompt() is None
        assert await c.column("SELECT data FROM task_flows") == ""
        assert await c.column("SELECT cancel_reason FROM tasks WHERE id = 4") == ""


async def test_cancel_names_what_it_dropped(api: FakeBotApi, tmp_path: Path) -> None:
    async with county(api, tmp_path) as c:
        await _start_report(c)
        await c.asked("reports.file")
        await c.say("/cancel", "已取消「季度进度报告文件」")
        assert await c.prompt() is None
        await c.say("/cancel", "目前没有进行中的操作")


async def test_an_open_question_survives_a_restart(api: FakeBotApi, tmp_path: Path) -> None:
    async with county(api, tmp_path) as c:
        await _start_cancel(c)
        await c.asked("tasks.cancel")
        settings = c.app.bot_data["services"].settings
    async with running_bot(settings) as app:  # the same database, a new process
        c.app = app
        await c.say("上级部署调整", "取消原因：上级部署调整")
        assert await c.prompt() is None


async def test_a_training_place_too_long_is_refused_not_cut(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as c:
        await _start_training(c)
        await c.say("2026-12-09 15:00", "请发送培训地点")
        await c.say("会议室" * 200, "内容太长（600 字）")
        await c.asked("training.details")  # the same question, still open
        await c.say("县卫健委二楼", "请发送备注")
        await c.say("无", "已")
        places = await c.column("SELECT place FROM trainings WHERE task_id = 1")
        assert places == "县卫健委二楼"  # the long one was never kept, cut or otherwise


def _now(api: FakeBotApi, message: SentMessage) -> SentMessage:
    return next(m for m in api.chat_messages(P) if m.message_id == message.message_id)


async def test_a_dropped_questions_card_says_so_and_loses_its_buttons(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as c:
        card = await c.say("/newtask", "第一步")
        assert card.buttons  # industries to pick, 放弃
        await c.asked("tasks.propose")
        await c.say("/tasks", "已放弃「发起联合检查（/newtask）的填写」")
        await until(lambda: not _now(api, card).buttons)
        # the card itself says it was dropped, and by what; it still shows the draft
        dropped = _now(api, card).text
        assert dropped.startswith("⛔ 已作废：已被新的操作取代") and "第一步" in dropped
        assert await c.column("SELECT id FROM task_flows WHERE family = 'propose'") == ""
        # a join card dropped by /cancel says so too
        await _start_count(c)
        await c.asked("tasks.count")
        join = next(m for m in reversed(api.chat_messages(P)) if "派出几名" in m.text)
        await c.say("/cancel", "已取消「派出检查人员人数」")
        await until(lambda: not _now(api, join).buttons)
        assert _now(api, join).text.startswith("⛔ 已作废：已用 /cancel 放弃")
        assert "派出几名" in _now(api, join).text
        # a draft dropped by another command says so as well
        first = await c.say("/newtask", "第一步")
        await c.asked("tasks.propose")
        await c.say("/broadcast", "已放弃「发起联合检查（/newtask）的填写」")
        await until(lambda: _now(api, first).text.startswith("⛔ 已作废：已被新的操作取代"))
        assert not _now(api, first).buttons


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


async def test_a_reply_to_another_message_is_not_an_answer(api: FakeBotApi, tmp_path: Path) -> None:
    async with county(api, tmp_path) as c:
        await _start_cancel(c)
        await c.asked("tasks.cancel")
        assert c.saved is not None
        before = api.sent_total(P)
        api.send_photo(P, PNG, reply_to=c.saved.message_id)  # evidence for an entry
        await c._wait(P, before, "已作为证据", "")
        assert await c.prompt() is None  # the question was dropped, and said so
        assert any("已放弃「取消任务的原因」" in m.text for m in c.after(before))
        assert await c.column("SELECT cancel_reason FROM tasks WHERE id = 4") == ""


async def test_the_broadcast_time_question_follows_the_content(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as c:
        await _start_broadcast(c)
        await c.asked("broadcast.content")
        card = await c.say("通知甲", "", button="定时发送")
        await c.press(card, "定时发送")
        await c.asked("broadcast.time")
        assert await c.column("SELECT awaiting FROM broadcasts WHERE status = 'draft'") == "time"
        await c.say("明天 9:00", "定时")
        assert await c.column("SELECT status FROM broadcasts") == "scheduled"
