"""The double-random draw (双随机) of a confirmed joint inspection and its task notices.

    /draw <task> [A=5 B=10 …]    the bot's own draw (ratios in percent override [draw] per task)
    /drawimport <task>           then the provincial platform's .xlsx/.csv: credit codes, and
                                 optionally 执法证号 per object (else the bot draws inspectors)
    /verify <task>               re-run the recorded draw, say identical or not
    /acks <task>                 who has acknowledged (收到)
    /swap <task> <no> <old cert> <new cert> <reason>   a liaison's manual swap, reason required
    /notice <task> <no>          the one notice to the enterprise (一次告知), a .txt document

Callback data: `dr:<task>:ack` (收到), `dr:<task>:cf:<no>` (申请回避 for object <no>).
Typed input (the 回避 reason, the platform file) are prompts of bot.conversation (kinds
draw.conflict, draw.import). Everything sent on the bot's own initiative goes
through the outbox in the same transaction as the change; `run_due(app)` sends acknowledgement
reminders and tells liaisons, keyed in `draw_notices` so nothing goes twice.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
)

from bot import clock, conversation, importer
from bot.domain import draw as rules
from bot.domain import invites as invite_rules
from bot.domain.roles import Identity, Role
from bot.domain.tasks import QuietHours, TaskState
from bot.features.common import Context, button, command, identify, reply, send
from bot.features.tasks import work_calendar
from bot.render import Renderer
from bot.services import Services, services
from bot.store import audit, outbox
from bot.store import draw as store
from bot.store import tasks as task_store
from bot.store.prompts import Prompt
from bot.store.tasks import Conn, Task
from bot.tabular import TableError, open_table

log = logging.getLogger(__name__)

MAX_REASON = 300
NOTICE_OBJECTS = 20  # enterprises listed in one notice (the rest: the group's .xlsx)
CONFLICT_BUTTONS = 10
_RATIO = re.compile(r"^([ABCDabcd])\s*[=:：]\s*(\d+(?:\.\d+)?)%?$")
_PLAIN: Renderer | None = None


def _plain() -> Renderer:
    global _PLAIN
    if _PLAIN is None:
        _PLAIN = Renderer(html=False)
    return _PLAIN


def base_rules(svc: Services) -> rules.Rules:
    t = svc.settings.tunables.draw
    return rules.Rules(
        ratios=t.ratios,
        yearly_cap=t.yearly_cap,
        per_department=t.per_department,
        min_per_object=t.min_per_object,
    )


def _is_lead(identity: Identity, task: Task) -> bool:
    return identity.is_admin or task.lead_department in identity.liaison_departments


def _concerned(identity: Identity, task: Task) -> bool:
    return identity.is_admin or bool(set(identity.liaison_departments) & set(task.departments))


async def _task_arg(
    update: Update, context: Context, identity: Identity, *, lead: bool
) -> Task | None:
    args = context.args or []
    given = args[0].lstrip("#") if args else ""
    if not given.isdigit():
        await reply(update, context, "draw/usage.j2", problem="usage")
        return None
    async with services(context).db.transaction() as conn:
        task = await task_store.load(conn, int(given))
    if task is None or not _concerned(identity, task):
        await reply(update, context, "draw/usage.j2", problem="not_found", given=given)
        return None
    if lead and not _is_lead(identity, task):
        await reply(update, context, "draw/usage.j2", problem="not_lead", task=task)
        return None
    return task


def _parse_ratios(args: Sequence[str]) -> dict[str, float] | None:
    found: dict[str, float] = {}
    for arg in args:
        match = _RATIO.match(arg.strip())
        if match is None:
            return None
        value = float(match.group(2))
        if not 0 < value <= 100:
            return None
        found[match.group(1).upper()] = value
    return found


# -- /draw ---------------------------------------------------------------------------------------


@command("draw")
async def draw_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    task = await _task_arg(update, context, identity, lead=True)
    if task is None:
        return
    overrides = _parse_ratios((context.args or [])[1:])
    if overrides is None:
        await reply(update, context, "draw/usage.j2", problem="ratios")
        return
    if task.state is not TaskState.CONFIRMED:
        await reply(update, context, "draw/usage.j2", problem="state", task=task)
        return
    base = base_rules(svc)
    chosen = rules.Rules(
        ratios={**base.ratios, **overrides},
        yearly_cap=base.yearly_cap,
        per_department=base.per_department,
        min_per_object=base.min_per_object,
    )
    async with svc.db.transaction() as conn:
        inputs = await store.inputs(conn, task, chosen)
    seed = secrets.token_hex(8)
    try:
        text, result = await asyncio.to_thread(_run, inputs, seed)
    except rules.DrawError as exc:
        await _record_failure(svc, identity, task, str(exc))
        await reply(update, context, "draw/problem.j2", task=task, message=str(exc))
        return
    done = await _commit(svc, identity, task, "bot", seed, text, result)
    if done is None:
        await reply(update, context, "draw/usage.j2", problem="state", task=task)
        return
    await reply(update, context, "draw/done.j2", **done)


def _run(inputs: rules.DrawInputs, seed: str) -> tuple[str, rules.DrawResult]:
    return rules.canonical(inputs), rules.draw(inputs, seed)


async def _record_failure(svc: Services, identity: Identity, task: Task, message: str) -> None:
    async with svc.db.transaction() as conn:
        await audit.record(
            conn,
            actor=identity.tg_user_id,
            action="draw.run",
            entity="task",
            entity_id=task.id,
            outcome="failed",
            detail={"error": message},
        )


async def _commit(
    svc: Services,
    identity: Identity,
    task: Task,
    source: str,
    seed: str,
    inputs_text: str,
    result: rules.DrawResult,
) -> dict[str, Any] | None:
    """Record the draw, move the task to 已抽取 and queue the summary, the list and notices."""
    certs = {cert for o in result.objects for _, cert in o.inspectors}
    async with svc.db.transaction() as conn:
        if not await task_store.move(conn, task.id, TaskState.CONFIRMED, TaskState.DRAWN):
            return None
        people = await store.inspectors_by_cert(conn, certs)
        ids = {cert: row.id for cert, row in people.items()}
        await store.save(
            conn,
            task.id,
            source=source,
            seed=seed,
            inputs_text=inputs_text,
            result=result,
            actor=identity.tg_user_id,
            ids=ids,
        )
        fresh = await task_store.load(conn, task.id)
        assert fresh is not None
        names = await task_store.department_names(conn)
        view = dict(
            task=fresh,
            names=names,
            source=source,
            seed=seed,
            input_hash=rules.input_hash(inputs_text),
            strata=result.strata,
            excluded_closed=result.excluded_closed,
            excluded_cap=result.excluded_cap,
            objects=len(result.objects),
            inspectors=len(certs),
        )
        unreachable = await _send_notices(conn, svc, fresh, [row.id for row in people.values()])
        view["unreachable"] = unreachable
        group = await task_store.coordination_chat(conn)
        target = group if group is not None else identity.tg_user_id
        await outbox.enqueue(
            conn,
            target,
            svc.renderer.message("draw/summary.j2", **view),
            dedup_key=f"draw:{task.id}:summary",
        )
        data = await _xlsx(conn, fresh, names)
        await outbox.enqueue_document(
            conn,
            target,
            file_name=f"抽取结果_任务{task.id}.xlsx",
            data=data,
            caption=svc.renderer.text("draw/list_caption.j2", task=fresh, seed=seed),
            dedup_key=f"draw:{task.id}:list",
        )
        await audit.record(
            conn,
            actor=identity.tg_user_id,
            action="draw.run",
            entity="task",
            entity_id=task.id,
            detail={
                "source": source,
                "seed": seed,
                "algorithm": rules.ALGORITHM_VERSION,
                "input_hash": view["input_hash"],
                "objects": len(result.objects),
                "inspectors": len(certs),
                "strata": [[s.risk_class, s.candidates, s.drawn, s.ratio] for s in result.strata],
                "unreachable": unreachable,
                "from": "confirmed",
                "to": "drawn",
            },
        )
    view["group"] = group
    return view


async def _xlsx(conn: Conn, task: Task, names: dict[str, str]) -> bytes:
    rows = await store.assignments(conn, task.id)
    details = await store.objects(conn, {a.credit_code for a in rows})
    teams: dict[int, list[store.Assignment]] = defaultdict(list)
    for a in rows:
        teams[a.seq].append(a)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("抽取结果")
    ws.append(["序号", "统一社会信用代码", "企业名称", "地址", "信用风险分类", "检查人员"])
    for seq in sorted(teams):
        team = teams[seq]
        obj = details.get(team[0].credit_code)
        ws.append(
            [
                seq,
                team[0].credit_code,
                obj["name"] if obj else "",
                obj["address"] if obj else "",
                team[0].risk_class,
                "、".join(
                    f"{a.name}（{names.get(a.department_code, a.department_code)}"
                    f" {a.certificate_no}）"
                    for a in team
                ),
            ]
        )
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


async def _notice_view(conn: Conn, task: Task, inspector_id: int) -> dict[str, Any]:
    rows = await store.assignments(conn, task.id)
    mine = sorted({a.seq for a in rows if a.inspector_id == inspector_id})
    names = await task_store.department_names(conn)
    items = store.task_items(task)
    item_names = await task_store.item_names(conn, [c for cs in items.values() for c in cs])
    shown = set(mine[:NOTICE_OBJECTS])
    details = await store.objects(conn, {a.credit_code for a in rows if a.seq in shown})
    enterprises = []
    for seq in mine[:NOTICE_OBJECTS]:
        team = [a for a in rows if a.seq == seq]
        enterprises.append(
            {
                "seq": seq,
                "code": team[0].credit_code,
                "object": details.get(team[0].credit_code),
                "team": [a for a in team if a.inspector_id != inspector_id],
            }
        )
    return dict(
        task=task,
        names=names,
        enterprises=enterprises,
        more=len(mine) - len(enterprises),
        total=len(mine),
        items={d: [item_names.get(c, c) for c in cs] for d, cs in items.items()},
        buttons=[e["seq"] for e in enterprises[:CONFLICT_BUTTONS]],
    )


async def _send_notices(
    conn: Conn, svc: Services, task: Task, inspector_ids: Iterable[int], *, key: str = ""
) -> list[str]:
    """A private notice to each inspector who can be messaged; the liaisons of the others are
    told who, with fresh invitation links. Returns the names of those unreachable."""
    ids = sorted(set(inspector_ids))
    if not ids:
        return []
    rows = await conn.execute_fetchall(
        "SELECT i.id, i.name, i.certificate_no, i.department_code, p.tg_user_id"
        " FROM inspectors i LEFT JOIN people p ON p.id = i.person_id"
        f" WHERE i.id IN ({','.join('?' * len(ids))}) ORDER BY i.department_code, i.certificate_no",
        ids,
    )
    lost: dict[str, list[dict[str, Any]]] = defaultdict(list)
    names: list[str] = []
    for inspector_id, name, cert, dept, tg_user_id in rows:
        await store.add_notice(conn, task.id, inspector_id, tg_user_id is not None)
        if tg_user_id is not None:
            view = await _notice_view(conn, task, inspector_id)
            await outbox.enqueue(
                conn,
                tg_user_id,
                svc.renderer.message("draw/notice.j2", **view),
                dedup_key=f"draw:{task.id}:notice:{inspector_id}{key}",
            )
            continue
        code = invite_rules.new_code()
        await conn.execute(
            "INSERT INTO invite_codes (code, role, department_code, inspector_id, created_by,"
            " created_at, expires_at) VALUES (?, 'inspector', ?, ?, 0, ?, ?)",
            (
                code,
                dept,
                inspector_id,
                clock.now_db(),
                clock.to_db(
                    invite_rules.expiry(clock.now(), svc.settings.tunables.invite_ttl_days)
                ),
            ),
        )
        link = invite_rules.deep_link(svc.bot_username, code)
        lost[dept].append({"name": name, "cert": cert, "link": link})
        names.append(name)
    if lost:
        liaisons = await task_store.liaisons(conn, lost)
        dept_names = await task_store.department_names(conn)
        for dept, people in lost.items():
            rendered = svc.renderer.message(
                "draw/unreachable.j2",
                task=task,
                department=dept_names.get(dept, dept),
                people=people,
            )
            for uid in liaisons.get(dept, []):
                await outbox.enqueue(
                    conn, uid, rendered, dedup_key=f"draw:{task.id}:lost:{dept}:{uid}{key}"
                )
        await audit.record(
            conn,
            actor=None,
            action="draw.unreachable",
            entity="task",
            entity_id=task.id,
            detail={d: [p["cert"] for p in ps] for d, ps in lost.items()},
        )
    return names


# -- buttons: 收到, 申请回避 ------------------------------------------------------------


@button(Role.INSPECTOR)
async def draw_button(update: Update, context: Context, identity: Identity) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    svc = services(context)
    parts = query.data.split(":")
    task_id = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    action = parts[2] if len(parts) > 2 else ""
    inspector_id = identity.inspector_id
    assert inspector_id is not None
    async with svc.db.transaction() as conn:
        task = await task_store.load(conn, task_id)
        mine = [a for a in await store.assignments(conn, task_id) if a.inspector_id == inspector_id]
        state = "closed"
        if task is not None and task.state is TaskState.DRAWN and mine:
            if action == "ack":
                state = "acked" if await store.acknowledge(conn, task_id, inspector_id) else "same"
                if state == "acked":
                    await audit.record(
                        conn,
                        actor=identity.tg_user_id,
                        action="draw.ack",
                        entity="task",
                        entity_id=task_id,
                        detail={"inspector": inspector_id},
                    )
            elif action == "cf" and len(parts) > 3 and parts[3].isdigit():
                seq = int(parts[3])
                if any(a.seq == seq for a in mine):
                    state = "ask"
    text = svc.renderer.text("draw/alert.j2", state=state)
    await query.answer(text, show_alert=state in ("closed",))
    if state == "ask":
        question = svc.renderer.message("draw/ask_reason.j2", task_id=task_id, seq=int(parts[3]))
        await conversation.ask(
            context,
            identity.tg_user_id,
            identity.tg_user_id,
            "draw.conflict",
            {"task": task_id, "seq": int(parts[3])},
            lambda: send(context, identity.tg_user_id, question),
        )


async def _replace(
    conn: Conn,
    svc: Services,
    task: Task,
    old: store.Assignment,
    *,
    kind: str,
    reason: str,
    actor: int,
    new_cert: str | None = None,
) -> store.InspectorRow:
    """Replace `old` on its object: a fresh draw from the recorded rules and seed (conflict) or
    the liaison's choice (swap). Raises DrawError when nobody eligible is left."""
    record = await store.record(conn, task.id)
    assert record is not None
    inputs = rules.from_canonical(record.inputs_text)
    certs = {i.certificate_no for i in inputs.inspectors}
    live = await store.conflicts_of(conn, certs | {old.certificate_no})
    inputs = rules.DrawInputs(**{**inputs.__dict__, "conflicts": inputs.conflicts | live})
    current = await store.assignments(conn, task.id)
    team = [a.certificate_no for a in current if a.seq == old.seq]
    counter = await store.replacements_so_far(conn, task.id) + 1
    if new_cert is None:
        loads: dict[str, int] = defaultdict(int)
        for a in current:
            loads[a.certificate_no] += 1
        excluded = await store.replaced_out(conn, task.id, old.seq)
        new_cert = rules.replacement(
            inputs,
            record.seed or f"task{task.id}",
            counter,
            old.department_code,
            old.credit_code,
            team,
            loads,
            excluded,
        )
    else:
        dept = next((d for d in inputs.departments if d.code == old.department_code), None)
        allowed = {i.certificate_no for i in rules.eligible(inputs, dept)} if dept else set()
        if (
            new_cert not in allowed
            or new_cert in team
            or (new_cert, old.credit_code) in inputs.conflicts
        ):
            raise rules.DrawError(
                f"执法证号 {new_cert} 不符合条件（须为同一部门、在岗、证件在检查期内有效、"
                "未申请回避且不在该对象的检查组中）。"
            )
    found = await store.inspectors_by_cert(conn, [new_cert])
    new = found[new_cert]
    await store.replace(conn, old, task.id, new.id, kind, reason)
    await audit.record(
        conn,
        actor=actor,
        action=f"draw.{kind}",
        entity="task",
        entity_id=task.id,
        detail={
            "seq": old.seq,
            "credit_code": old.credit_code,
            "old": old.certificate_no,
            "new": new_cert,
            "reason": reason,
            "counter": counter,
        },
    )
    await _send_notices(conn, svc, task, [new.id], key=f":{kind}:{counter}")
    names = await task_store.department_names(conn)
    users = await task_store.liaisons(conn, {task.lead_department, old.department_code})
    rendered = svc.renderer.message(
        "draw/replaced.j2",
        task=task,
        kind=kind,
        seq=old.seq,
        credit_code=old.credit_code,
        old=old,
        new=new,
        reason=reason,
        department=names.get(old.department_code, old.department_code),
    )
    for uid in sorted({u for us in users.values() for u in us}):
        await outbox.enqueue(conn, uid, rendered, dedup_key=f"draw:{task.id}:repl:{counter}:{uid}")
    return new


async def _conflict_reason(update: Update, context: Context, prompt: Prompt) -> bool:
    """The 回避 reason an inspector was asked for (prompt draw.conflict)."""
    message_in = update.effective_message
    if message_in is None or not message_in.text:
        return False
    identity = await identify(update, context)
    if identity.inspector_id is None:
        return False
    task_id, seq = int(prompt.target["task"]), int(prompt.target["seq"])
    svc = services(context)
    reason = message_in.text.strip()
    if not reason or len(reason) > MAX_REASON:
        await reply(update, context, "draw/ask_reason.j2", task_id=task_id, seq=seq, bad=True)
        await conversation.again(context, prompt)
        return True
    message = None
    async with svc.db.transaction() as conn:
        task = await task_store.load(conn, task_id)
        old = next(
            (
                a
                for a in await store.assignments(conn, task_id, seq=seq)
                if a.inspector_id == identity.inspector_id
            ),
            None,
        )
        if task is None or task.state is not TaskState.DRAWN or old is None:
            message = "closed"
        else:
            await store.add_conflict(conn, old.inspector_id, old.credit_code, task_id, reason)
            try:
                await _replace(
                    conn, svc, task, old, kind="conflict", reason=reason, actor=identity.tg_user_id
                )
            except rules.DrawError as exc:
                message = str(exc)
                await audit.record(
                    conn,
                    actor=identity.tg_user_id,
                    action="draw.conflict",
                    entity="task",
                    entity_id=task_id,
                    outcome="failed",
                    detail={"seq": seq, "reason": reason, "error": message},
                )
                users = await task_store.liaisons(conn, {task.lead_department, old.department_code})
                rendered = svc.renderer.message(
                    "draw/replace_failed.j2",
                    task=task,
                    seq=seq,
                    old=old,
                    reason=reason,
                    message=message,
                )
                for uid in sorted({u for us in users.values() for u in us}):
                    await outbox.enqueue(conn, uid, rendered)
    await reply(update, context, "draw/conflict_done.j2", task_id=task_id, seq=seq, problem=message)
    return True


# -- typed input: the platform's file (prompt draw.import) ---------------------------------------


async def _platform_answer(update: Update, context: Context, prompt: Prompt) -> bool:
    message = update.effective_message
    if message is None or message.document is None or _names_directory(message.caption):
        # A directory upload (caption 部门/人员/对象/事项) is never the platform's file.
        return False
    identity = await identify(update, context)
    await _platform_file(update, context, identity, prompt)
    return True


def _names_directory(caption: str | None) -> bool:
    words = (caption or "").replace("，", " ").replace(",", " ").split()
    return any(importer.parse_kind(word) for word in words)


# -- the provincial platform's draw ---------------------------------------------------------------


@command("drawimport")
async def drawimport_command(update: Update, context: Context, identity: Identity) -> None:
    task = await _task_arg(update, context, identity, lead=True)
    if task is None:
        return
    if task.state is not TaskState.CONFIRMED:
        await reply(update, context, "draw/usage.j2", problem="state", task=task)
        return
    await conversation.ask(
        context,
        identity.tg_user_id,
        identity.tg_user_id,
        "draw.import",
        {"task": task.id},
        lambda: reply(update, context, "draw/import_ask.j2", task=task),
    )


_CODE_HEADERS = ("统一社会信用代码", "信用代码", "credit_code")
_CERT_HEADERS = ("执法证号", "检查人员执法证号", "certificate_no", "执法人员")


def _split_certs(value: Any) -> list[str]:
    text = "" if value is None else str(value)
    return [p.strip() for p in re.split(r"[、,，;；\s]+", text) if p.strip()]


async def _platform_file(
    update: Update, context: Context, identity: Identity, prompt: Prompt
) -> None:
    """The platform's file: a file with errors keeps the question open for a corrected one."""
    task_id = int(prompt.target["task"])
    svc = services(context)
    message = update.effective_message
    assert message is not None and message.document is not None
    doc = message.document
    file = await doc.get_file()
    data = bytes(await file.download_as_bytearray())
    async with svc.db.transaction() as conn:
        task = await task_store.load(conn, task_id)
    if task is None or task.state is not TaskState.CONFIRMED or not _is_lead(identity, task):
        await reply(update, context, "draw/usage.j2", problem="state", task=task)
        return
    try:
        rows = await asyncio.to_thread(_read_platform, doc.file_name or "draw.xlsx", data)
    except TableError as exc:
        await reply(update, context, "draw/import_report.j2", task=task, errors=[str(exc)])
        await conversation.again(context, prompt)
        return
    async with svc.db.transaction() as conn:
        inputs = await store.inputs(conn, task, base_rules(svc))
        errors, picked, teams = await _check_platform(conn, inputs, rows)
    if errors:
        shown = svc.settings.tunables.error_rows_shown
        await reply(
            update,
            context,
            "draw/import_report.j2",
            task=task,
            errors=errors[:shown],
            more=len(errors) - shown,
        )
        await conversation.again(context, prompt)
        return
    seed = ""
    text = rules.canonical(inputs)
    try:
        if teams is None:
            seed = secrets.token_hex(8)
            result = await asyncio.to_thread(rules.assign_only, inputs, seed, picked)
        else:
            result = rules.DrawResult(
                tuple(
                    rules.DrawnObject(n, code, cls, tuple(team))
                    for n, ((code, cls), team) in enumerate(zip(picked, teams, strict=True), 1)
                ),
                (),
                0,
                0,
            )
    except rules.DrawError as exc:
        await reply(update, context, "draw/problem.j2", task=task, message=str(exc))
        return
    done = await _commit(svc, identity, task, "platform", seed, text, result)
    if done is None:
        await reply(update, context, "draw/usage.j2", problem="state", task=task)
        return
    await reply(update, context, "draw/done.j2", **done)


def _read_platform(filename: str, data: bytes) -> list[tuple[int, str, list[str] | None]]:
    """(row number, credit code, certificates or None when the file has no such column)."""
    table = open_table(filename, data)
    found: list[tuple[int, str, list[str] | None]] = []
    rows = table.sheets[0].rows()
    code_col = cert_col = None
    for row_no, cells in rows:
        labels = [str(c or "").strip().lstrip("*") for c in cells]
        code_col = next((i for i, v in enumerate(labels) if v in _CODE_HEADERS), None)
        if code_col is not None:
            cert_col = next((i for i, v in enumerate(labels) if v in _CERT_HEADERS), None)
            break
        if row_no > 5:
            break
    if code_col is None:
        raise TableError("找不到「统一社会信用代码」列。")
    for row_no, cells in rows:
        code = str(cells[code_col] or "").strip().upper() if code_col < len(cells) else ""
        certs = None
        if cert_col is not None:
            certs = _split_certs(cells[cert_col] if cert_col < len(cells) else None)
        if code or certs:
            found.append((row_no, code, certs))
    return found


async def _check_platform(
    conn: Conn,
    inputs: rules.DrawInputs,
    rows: Sequence[tuple[int, str, list[str] | None]],
) -> tuple[list[str], list[tuple[str, str]], list[list[tuple[str, str]]] | None]:
    known = {o.credit_code: o for o in inputs.objects}
    directory = await store.objects(conn, [code for _, code, _ in rows])
    classes = (
        {
            r[0]: r[1]
            for r in await conn.execute_fetchall(
                "SELECT credit_code, risk_class FROM objects WHERE credit_code IN ("
                + ",".join("?" * len(directory))
                + ")",
                list(directory),
            )
        }
        if directory
        else {}
    )
    people = {i.certificate_no: i for i in inputs.inspectors}
    participating = {d.code for d in inputs.departments}
    errors: list[str] = []
    picked: list[tuple[str, str]] = []
    teams: list[list[tuple[str, str]]] = []
    with_certs = any(certs is not None for _, _, certs in rows)
    seen: set[str] = set()
    for row_no, code, certs in rows:
        if code not in directory:
            errors.append(f"第 {row_no} 行：统一社会信用代码 {code or '（空）'} 不在检查对象名录中")
            continue
        if code in seen:
            errors.append(f"第 {row_no} 行：统一社会信用代码 {code} 重复")
            continue
        seen.add(code)
        cls = (known[code].risk_class if code in known else classes.get(code)) or rules.UNCLASSIFIED
        picked.append((code, cls))
        if not with_certs:
            continue
        team: list[tuple[str, str]] = []
        if not certs:
            errors.append(f"第 {row_no} 行：未填写执法证号")
        for cert in certs or []:
            person = people.get(cert)
            if person is None or person.department not in participating:
                errors.append(f"第 {row_no} 行：执法证号 {cert} 不是参加部门的执法检查人员")
            elif not person.active:
                errors.append(f"第 {row_no} 行：执法证号 {cert} 的人员已不在岗")
            elif (cert, code) in inputs.conflicts:
                errors.append(f"第 {row_no} 行：执法证号 {cert} 已申请回避该企业")
            else:
                team.append((person.department, cert))
        teams.append(team)
    if not rows:
        errors.append("文件中没有数据行。")
    return errors, picked, (teams if with_certs else None)


# -- /verify, /acks, /swap, /notice ------------------------------------------------------


async def verify_task(
    conn: Conn, task_id: int
) -> tuple[store.Record | None, rules.Verification | None]:
    record = await store.record(conn, task_id)
    if record is None:
        return None, None
    outcome = await asyncio.to_thread(
        rules.verify,
        source=record.source,
        seed=record.seed,
        algorithm=record.algorithm,
        recorded_hash=record.input_hash,
        inputs_text=record.inputs_text,
        result_text=record.result_text,
    )
    return record, outcome


@command("verify")
async def verify_command(update: Update, context: Context, identity: Identity) -> None:
    task = await _task_arg(update, context, identity, lead=False)
    if task is None:
        return
    svc = services(context)
    async with svc.db.transaction() as conn:
        record, outcome = await verify_task(conn, task.id)
        await audit.record(
            conn,
            actor=identity.tg_user_id,
            action="draw.verify",
            entity="task",
            entity_id=task.id,
            detail={"identical": outcome.identical if outcome else None},
        )
    await reply(update, context, "draw/verify.j2", task_id=task.id, record=record, v=outcome)


@command("acks")
async def acks_command(update: Update, context: Context, identity: Identity) -> None:
    task = await _task_arg(update, context, identity, lead=False)
    if task is None:
        return
    async with services(context).db.transaction() as conn:
        found = await store.notices(conn, task.id)
        names = await task_store.department_names(conn)
    await reply(update, context, "draw/acks.j2", task=task, notices=found, names=names)


@command("swap")
async def swap_command(update: Update, context: Context, identity: Identity) -> None:
    args = context.args or []
    if len(args) < 5 or not args[1].isdigit():
        await reply(update, context, "draw/usage.j2", problem="swap")
        return
    task = await _task_arg(update, context, identity, lead=False)
    if task is None:
        return
    seq, old_cert, new_cert = int(args[1]), args[2], args[3]
    reason = " ".join(args[4:]).strip()[:MAX_REASON]
    svc = services(context)
    problem: str | None = None
    new: store.InspectorRow | None = None
    async with svc.db.transaction() as conn:
        old = next(
            (
                a
                for a in await store.assignments(conn, task.id, seq=seq)
                if a.certificate_no == old_cert
            ),
            None,
        )
        if task.state is not TaskState.DRAWN or old is None:
            problem = "没有找到该对象上的这名检查人员，或任务不在「已抽取」状态。"
        elif not (_is_lead(identity, task) or old.department_code in identity.liaison_departments):
            problem = "只有牵头部门或该人员所属部门的联络员可以调换。"
        else:
            try:
                new = await _replace(
                    conn,
                    svc,
                    task,
                    old,
                    kind="swap",
                    reason=reason,
                    actor=identity.tg_user_id,
                    new_cert=new_cert,
                )
            except rules.DrawError as exc:
                problem = str(exc)
        if problem:
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="draw.swap",
                entity="task",
                entity_id=task.id,
                outcome="refused",
                detail={"seq": seq, "old": old_cert, "new": new_cert, "problem": problem},
            )
    await reply(update, context, "draw/swap_done.j2", task=task, seq=seq, new=new, problem=problem)


@command("notice")
async def notice_command(update: Update, context: Context, identity: Identity) -> None:
    args = context.args or []
    if len(args) < 2 or not args[1].isdigit():
        await reply(update, context, "draw/usage.j2", problem="notice")
        return
    task = await _task_arg(update, context, identity, lead=False)
    if task is None:
        return
    seq = int(args[1])
    svc = services(context)
    async with svc.db.transaction() as conn:
        team = await store.assignments(conn, task.id, seq=seq)
        if not team:
            obj = None
        else:
            obj = (await store.objects(conn, [team[0].credit_code])).get(team[0].credit_code)
        names = await task_store.department_names(conn)
        items = store.task_items(task)
        item_names = await task_store.item_names(conn, [c for cs in items.values() for c in cs])
        if team:
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="draw.enterprise_notice",
                entity="task",
                entity_id=task.id,
                detail={"seq": seq, "credit_code": team[0].credit_code},
            )
    if not team:
        await reply(update, context, "draw/usage.j2", problem="no_object", task=task, seq=seq)
        return
    text = _plain().text(
        "draw/enterprise_notice.j2",
        task=task,
        seq=seq,
        code=team[0].credit_code,
        object=obj,
        team=team,
        names=names,
        items={d: [item_names.get(c, c) for c in cs] for d, cs in items.items()},
    )
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_document(
        chat.id,
        document=io.BytesIO(text.replace("\n", "\r\n").encode("utf-8-sig")),
        filename=f"一次告知书_任务{task.id}_对象{seq}.txt",
        caption=svc.renderer.text("draw/notice_caption.j2", task=task, seq=seq, object=obj),
        parse_mode="HTML",
    )


# -- acknowledgement reminders -----------------------------------------------------------


async def run_due(app: Application) -> None:
    """Remind inspectors who have not pressed 收到 by `ack_time` the next working day; tell
    their department's liaisons `escalate_working_days` later. Keyed in draw_notices."""
    svc: Services = app.bot_data["services"]
    tz = svc.settings.tz
    t = svc.settings.tunables.draw
    cal = work_calendar(svc)
    now = clock.now().astimezone(tz)
    r = svc.settings.tunables.reminders
    quiet = QuietHours(r.quiet_start, r.quiet_end)
    not_before = quiet.adjust(now) if quiet.is_quiet(now) else None

    def due(stamp: str, days: int) -> datetime:
        day = clock.from_db(stamp).astimezone(tz).date()
        return datetime.combine(cal.add_workdays(day, days), t.ack_time, tzinfo=tz)

    async with svc.db.transaction() as conn:
        waiting = [n for n in await store.notices(conn) if n.reachable]
    for n in waiting:
        async with svc.db.transaction() as conn:
            task = await task_store.load(conn, n.task_id)
            if task is None or task.state is not TaskState.DRAWN:
                continue
            if n.reminded_at is None:
                if now >= due(n.notified_at, 1) and await store.mark(
                    conn, n.task_id, n.inspector_id, "reminded_at"
                ):
                    assert n.tg_user_id is not None
                    view = await _notice_view(conn, task, n.inspector_id)
                    await outbox.enqueue(
                        conn,
                        n.tg_user_id,
                        svc.renderer.message("draw/notice.j2", **view, reminder=True),
                        dedup_key=f"draw:{n.task_id}:ackrem:{n.inspector_id}",
                        not_before=not_before,
                    )
                    await audit.record(
                        conn,
                        actor=None,
                        action="draw.ack_remind",
                        entity="task",
                        entity_id=n.task_id,
                        detail={"inspector": n.inspector_id},
                    )
            elif n.escalated_at is None and now >= due(n.reminded_at, t.escalate_working_days):
                if await store.mark(conn, n.task_id, n.inspector_id, "escalated_at"):
                    users = await task_store.liaisons(conn, [n.department_code])
                    rendered = svc.renderer.message("draw/ack_escalation.j2", task=task, n=n)
                    for uid in users[n.department_code]:
                        await outbox.enqueue(
                            conn,
                            uid,
                            rendered,
                            dedup_key=f"draw:{n.task_id}:ackesc:{n.inspector_id}:{uid}",
                            not_before=not_before,
                        )
                    await audit.record(
                        conn,
                        actor=None,
                        action="draw.ack_escalate",
                        entity="task",
                        entity_id=n.task_id,
                        detail={"inspector": n.inspector_id, "told": users[n.department_code]},
                    )


async def _job(context: Context) -> None:
    try:
        await run_due(context.application)
    except Exception:
        log.exception("draw acknowledgements: scan failed; trying again at the next run")


async def start(app: Application) -> None:
    if app.job_queue is None:
        log.warning("no job queue: acknowledgement reminders will not run")
        return
    every = app.bot_data["services"].settings.tunables.draw.scan_seconds
    app.job_queue.run_repeating(_job, interval=every, first=1.0, name="draw-acks")


def register(app: Application) -> None:
    conversation.register("draw.conflict", _conflict_reason)
    conversation.register("draw.import", _platform_answer, accepts=(conversation.DOCUMENT,))
    for name, handler in (
        ("draw", draw_command),
        ("drawimport", drawimport_command),
        ("verify", verify_command),
        ("acks", acks_command),
        ("swap", swap_command),
        ("notice", notice_command),
    ):
        app.add_handler(CommandHandler(name, handler))
    app.add_handler(CallbackQueryHandler(draw_button, pattern=r"^dr:"))
