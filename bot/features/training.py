"""Pre-inspection training (查前培训): `/training <task>` sets, moves or cancels a session.

The lead department's liaison sets the task's session (everyone on the task is invited); a
participating department's liaison may announce its own (its own people are invited). Everyone
invited is told (outbox), answers 参加 or 请假 (with a reason), and is reminded before the
session (`[training] offsets`, default 3 days, 1 day, 2 hours; the one-day reminder doubles as
the nudge to those who have not answered). The lead liaisons get an attendance summary a day
before. The reminders are the series `training:<id>`, reconciled (bot/reminders.py) in the
transaction that sets, moves or cancels the session or changes its task: moving bumps its
version, so the old time's pending reminders are cancelled and the new ones planned;
cancelling cancels them. A reminder says the time left when it is sent (quiet hours may have
moved it).

Callback data: `tr:<training>:<a|l|move|cancel>`. Typed input (time, place, notes, reason) are
prompts of bot.conversation (kinds training.details, training.leave).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import clock, conversation
from bot import reminders as engine
from bot.callbacks import Pressed
from bot.domain import reminders as rules
from bot.domain.roles import Identity
from bot.domain.schedule import check_when, parse_when
from bot.features.common import Context, command, pressed, refuse, reply, send, stale
from bot.services import Services, services
from bot.store import audit, outbox
from bot.store import reminders as store
from bot.store.prompts import Prompt
from bot.store.reminders import Conn, Reminder

log = logging.getLogger(__name__)

MAX_TEXT = 500
ACTIVE_TASK_STATES = ("inviting", "confirmed", "drawn", "inspecting")
CLOSED_TASK_STATES = ("cancelled", "done")  # no session of such a task is planned or reminded


@dataclass(frozen=True)
class Training:
    id: int
    task_id: int
    department: str
    starts_at: datetime
    place: str
    notes: str
    state: str
    version: int


def _training(row: Any) -> Training:
    return Training(
        int(row["id"]),
        int(row["task_id"]),
        row["department_code"],
        clock.from_db(row["starts_at"]),
        row["place"],
        row["notes"],
        row["state"],
        int(row["version"]),
    )


async def _rows(conn: Conn, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    cursor = await conn.execute(sql, params)
    rows = await cursor.fetchall()
    await cursor.close()
    return list(rows)


async def load(conn: Conn, training_id: int) -> Training | None:
    rows = await _rows(conn, "SELECT * FROM trainings WHERE id = ?", (training_id,))
    return _training(rows[0]) if rows else None


async def _task(conn: Conn, task_id: int) -> dict[str, Any] | None:
    rows = await _rows(
        conn, "SELECT id, industry, lead_department, state FROM tasks WHERE id = ?", (task_id,)
    )
    if not rows:
        return None
    joined = await _rows(
        conn,
        "SELECT department_code FROM task_invitations WHERE task_id = ? AND answer = 'joined'",
        (task_id,),
    )
    row = rows[0]
    return {
        "id": row[0],
        "industry": row[1],
        "lead": row[2],
        "state": row[3],
        "departments": [row[2], *(r[0] for r in joined)],
    }


async def assigned_inspectors(conn: Conn, task_id: int, departments: list[str]) -> list[int]:
    """Telegram ids of the inspectors drawn for the task (issue 5's draw_assignments, current
    assignments only) in the given departments."""
    marks = ",".join("?" * len(departments))
    rows = await _rows(
        conn,
        "SELECT DISTINCT p.tg_user_id FROM draw_assignments a JOIN inspectors i ON i.id ="
        " a.inspector_id JOIN people p ON p.id = i.person_id WHERE a.task_id = ?"
        " AND i.active = 1"
        f" AND i.department_code IN ({marks}) AND a.replaced_at IS NULL",
        (task_id, *departments),
    )
    return [int(r[0]) for r in rows]


async def people(conn: Conn, training: Training, task: dict[str, Any]) -> list[int]:
    """Everyone a session is for: liaisons (and drawn inspectors) of the participating
    departments, or of the announcing department for a department's own session."""
    departments = (
        task["departments"] if training.department == task["lead"] else [training.department]
    )
    found = await store.liaisons(conn, departments)
    users = {uid for ids in found.values() for uid in ids}
    users |= set(await assigned_inspectors(conn, training.task_id, departments))
    return sorted(users)


async def answers(conn: Conn, training_id: int) -> dict[int, tuple[str, str]]:
    rows = await _rows(
        conn,
        "SELECT tg_user_id, answer, reason FROM training_answers WHERE training_id = ?",
        (training_id,),
    )
    return {int(r[0]): (r[1], r[2]) for r in rows}


async def _view(conn: Conn, svc: Services, training: Training) -> dict[str, Any]:
    task = await _task(conn, training.task_id)
    names = await store.departments(conn)
    return {
        "training": training,
        "task": task,
        "department": names.get(training.department, training.department),
        "starts": training.starts_at.astimezone(svc.settings.tz),
    }


# -- planning ------------------------------------------------------------------------------------


async def desired(conn: Conn, svc: Services, series: str, now: datetime) -> list[rules.Planned]:
    """The plan of `training:<id>` from the session (time, version, state), its task's state
    and who is on it; nothing once it is cancelled, over, or its task closed."""
    training = await load(conn, int(series.partition(":")[2]))
    if training is None:
        return []
    task = await _task(conn, training.task_id)
    live = (
        training.state == "active"
        and training.starts_at > now
        and task is not None
        and task["state"] not in CLOSED_TASK_STATES
    )
    t = svc.settings.tunables.reminders
    organisers = await store.liaisons(conn, [training.department])
    return rules.training_plan(
        training.id,
        training.version,
        training.starts_at.astimezone(svc.settings.tz) if live else None,
        await people(conn, training, task) if live and task else [],
        organisers.get(training.department, []),
        offsets_minutes=t.training_offsets_minutes,
        quiet=engine.quiet(svc),
    )


async def _live(conn: Conn, svc: Services, now: datetime) -> list[str]:
    """Sessions to come (people who joined the task since are added by reconciling them)."""
    rows = await _rows(
        conn,
        "SELECT id FROM trainings WHERE state = 'active' AND starts_at > ?",
        (clock.to_db(now),),
    )
    return [f"training:{r[0]}" for r in rows]


async def _of_task(conn: Conn, task_id: int) -> list[str]:
    rows = await _rows(conn, "SELECT id FROM trainings WHERE task_id = ?", (task_id,))
    return [f"training:{r[0]}" for r in rows]


async def compose(
    conn: Conn, svc: Services, reminder: Reminder, now: datetime
) -> engine.Composed | None:
    training = await load(conn, int(reminder.payload["training"]))
    if (
        training is None
        or training.state != "active"
        or training.version != reminder.payload["version"]
    ):
        return None
    view = await _view(conn, svc, training)
    if view["task"] is None or view["task"]["state"] in CLOSED_TASK_STATES:
        return None
    given = await answers(conn, training.id)
    if reminder.kind == "training.summary":
        task = view["task"]
        invited = await people(conn, training, task) if task else []
        who = await store.names(conn, invited)
        rendered = svc.renderer.message(
            "training/summary.j2", **view, invited=invited, given=given, who=who
        )
        return engine.composed(rendered)
    minutes = int(reminder.payload["minutes"])
    rendered = svc.renderer.message(
        "training/notice.j2",
        **view,
        kind="remind",
        offset=rules.remaining_label(view["starts"], now),
        answer=given.get(reminder.tg_user_id),
        nudge=minutes <= 1440 and reminder.tg_user_id not in given,
    )
    return engine.composed(rendered)


async def _tell_all(
    conn: Conn,
    svc: Services,
    training: Training,
    kind: str,
    skip: frozenset[int] = frozenset(),
    **extra: Any,
) -> None:
    view = await _view(conn, svc, training)
    task = view["task"]
    if task is None:
        return
    given = await answers(conn, training.id)
    for uid in await people(conn, training, task):
        if uid in skip:
            continue
        rendered = svc.renderer.message(
            "training/notice.j2", **view, kind=kind, answer=given.get(uid), nudge=False, **extra
        )
        await outbox.enqueue(
            conn,
            uid,
            rendered,
            dedup_key=f"training:{training.id}:v{training.version}:{kind}:{uid}",
        )


async def cancel_for_task(
    conn: Conn, svc: Services, task_id: int, actor: int, told: frozenset[int]
) -> list[Training]:
    """The task was cancelled (inside its transaction): cancel its active sessions and their
    reminders. Those in `told` (the task's cancellation notice mentions the sessions) are not
    told again; anyone else invited (drawn inspectors) gets the session's cancellation."""
    rows = await _rows(
        conn, "SELECT * FROM trainings WHERE task_id = ? AND state = 'active'", (task_id,)
    )
    cancelled: list[Training] = []
    for row in rows:
        training = _training(row)
        await conn.execute(
            "UPDATE trainings SET state = 'cancelled', updated_at = ? WHERE id = ?",
            (clock.now_db(), training.id),
        )
        await engine.reconcile(conn, svc, f"training:{training.id}")
        fresh = await load(conn, training.id)
        assert fresh is not None
        await _tell_all(conn, svc, fresh, "cancelled", skip=told)
        await audit.record(
            conn,
            actor=actor,
            action="training.cancel",
            entity="training",
            entity_id=training.id,
            detail={"reason": "task cancelled", "task": task_id},
        )
        cancelled.append(fresh)
    return cancelled


# -- /training -----------------------------------------------------------------------------------


def _may_set(identity: Identity, task: dict[str, Any]) -> str | None:
    """The department this person sets a session for: the lead's when they are its liaison
    (or an administrator), otherwise their own participating department."""
    if task["lead"] in identity.liaison_departments or identity.is_admin:
        return str(task["lead"])
    for code in identity.liaison_departments:
        if code in task["departments"]:
            return code
    return None


@command("training")
async def training_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    args = context.args or []
    given = args[0].lstrip("#") if args else ""
    if not given.isdigit():
        await reply(update, context, "training/problem.j2", problem="usage")
        return
    async with svc.db.transaction() as conn:
        task = await _task(conn, int(given))
        department = _may_set(identity, task) if task else None
        if task is None or department is None:
            problem = "not_found"
        elif task["state"] not in ACTIVE_TASK_STATES:
            problem = "closed"
        else:
            problem = ""
            rows = await _rows(
                conn,
                "SELECT * FROM trainings WHERE task_id = ? AND department_code = ?"
                " AND state = 'active' ORDER BY id DESC LIMIT 1",
                (task["id"], department),
            )
            if rows:
                training = _training(rows[0])
                view = await _view(conn, svc, training)
                given_answers = await answers(conn, training.id)
                invited = await people(conn, training, task)
                who = await store.names(conn, invited)
    if problem:
        await reply(update, context, "training/problem.j2", problem=problem, given=given)
        return
    if rows:
        await reply(
            update,
            context,
            "training/summary.j2",
            **view,
            invited=invited,
            given=given_answers,
            who=who,
            manage=True,
        )
        return
    assert task is not None
    await _ask(
        update,
        context,
        {"step": "time", "task": task["id"], "department": department},
        task=task,
    )


async def _ask(
    update: Update, context: Context, target: dict[str, Any], *, task: Any = None
) -> None:
    """Ask the next question of /training (time, place, notes, a new time) or a 请假 reason."""
    user = update.effective_user
    assert user is not None
    step = str(target["step"])
    kind = "training.leave" if step == "reason" else "training.details"
    await conversation.ask(
        context,
        user.id,
        user.id,
        kind,
        target,
        lambda: send(
            context,
            user.id,
            services(context).renderer.message("training/ask.j2", step=step, task=task),
        ),
    )


async def take_text(update: Update, context: Context, prompt: Prompt) -> bool:
    """Typed input: the session's time, place, notes (or a new time); a 请假 reason."""
    message = update.effective_message
    if message is None or not message.text:
        return False
    svc = services(context)
    text = message.text.strip()
    if len(text) > MAX_TEXT:  # refused, never cut: the same question stays open
        await reply(update, context, "training/problem.j2", problem="too_long", given=len(text))
        await conversation.again(context, prompt)
        return True
    user = prompt.tg_user_id
    now = engine.local_now(svc)
    data = dict(prompt.target)
    step = data.pop("step")
    if prompt.kind == "training.leave":
        async with svc.db.transaction() as conn:
            training = await load(conn, int(data["training"]))
            if training is None or training.state != "active":
                problem = "gone"
            else:
                problem = ""
                await _answer(conn, training, user, "leave", text)
        if problem:
            await reply(update, context, "training/problem.j2", problem=problem)
        else:
            await reply(update, context, "training/answered.j2", answer="leave", reason=text)
        return True
    if step in ("time", "move"):
        moment = parse_when(text, now)
        if check_when(moment, now) is not None or moment is None:
            await reply(update, context, "training/problem.j2", problem="time", given=text)
            await conversation.again(context, prompt)
            return True
        if step == "move":
            await _move(update, context, user, int(data["training"]), moment)
            return True
        await _ask(update, context, {**data, "step": "place", "starts_at": clock.to_db(moment)})
        return True
    if step == "place":
        await _ask(update, context, {**data, "step": "notes", "place": text})
        return True
    notes = "" if text in ("无", "没有", "-", "no") else text
    await _create(update, context, user, data, notes)
    return True


async def _create(
    update: Update, context: Context, user: int, data: dict[str, Any], notes: str
) -> None:
    svc = services(context)
    now = clock.now_db()
    async with svc.db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO trainings (task_id, department_code, starts_at, place, notes, created_by,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                data["task"],
                data["department"],
                data["starts_at"],
                data["place"],
                notes,
                user,
                now,
                now,
            ),
        )
        inserted = await cursor.fetchone()
        training = await load(conn, int(inserted[0]) if inserted else 0)
        assert training is not None
        await _tell_all(conn, svc, training, "new")
        await engine.reconcile(conn, svc, f"training:{training.id}")
        await audit.record(
            conn,
            actor=user,
            action="training.set",
            entity="training",
            entity_id=training.id,
            detail={"task": training.task_id, "starts_at": data["starts_at"]},
        )
        view = await _view(conn, svc, training)
    await reply(update, context, "training/done.j2", **view, done="new")


async def _move(
    update: Update, context: Context, user: int, training_id: int, moment: datetime
) -> None:
    svc = services(context)
    async with svc.db.transaction() as conn:
        training = await load(conn, training_id)
        if training is None or training.state != "active":
            training = None
        else:
            await conn.execute(
                "UPDATE trainings SET starts_at = ?, version = version + 1, updated_at = ?"
                " WHERE id = ?",
                (clock.to_db(moment), clock.now_db(), training_id),
            )
            training = await load(conn, training_id)
            assert training is not None
            await engine.reconcile(conn, svc, f"training:{training_id}")
            await _tell_all(conn, svc, training, "moved")
            await audit.record(
                conn,
                actor=user,
                action="training.move",
                entity="training",
                entity_id=training_id,
                detail={"starts_at": clock.to_db(moment)},
            )
            view = await _view(conn, svc, training)
    if training is None:
        await reply(update, context, "training/problem.j2", problem="gone")
        return
    await reply(update, context, "training/done.j2", **view, done="moved")


async def _answer(conn: Conn, training: Training, user: int, answer: str, reason: str) -> None:
    await conn.execute(
        "INSERT INTO training_answers (training_id, tg_user_id, answer, reason, answered_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (training_id, tg_user_id) DO UPDATE SET"
        " answer = excluded.answer, reason = excluded.reason, answered_at = excluded.answered_at",
        (training.id, user, answer, reason, clock.now_db()),
    )
    await audit.record(
        conn,
        actor=user,
        action=f"training.{answer}",
        entity="training",
        entity_id=training.id,
        detail={"reason": reason} if reason else None,
    )


@pressed("tr", parts=2)
async def training_button(
    update: Update, context: Context, identity: Identity, cb: Pressed
) -> None:
    """tr:<training>:a|l|move|cancel."""
    query = update.callback_query
    assert query is not None and query.data is not None
    raw_id, action = cb.text(0), cb.text(1)
    if action not in ("a", "l", "move", "cancel"):
        await stale(update, context)
        return
    svc = services(context)
    user = identity.tg_user_id
    async with svc.db.transaction() as conn:
        training = await load(conn, int(raw_id)) if raw_id.isdigit() else None
        task = await _task(conn, training.task_id) if training else None
        if training is None or task is None or training.state != "active":
            state = "gone"
        elif action in ("a", "l"):
            state = "ok" if user in await people(conn, training, task) else "outsider"
            if state == "ok" and action == "a":
                await _answer(conn, training, user, "attend", "")
            # 请假: the answer is recorded with its reason, asked below
        elif action in ("move", "cancel"):
            state = "ok" if _may_set(identity, task) == training.department else "outsider"
            if state == "ok" and action == "move":
                pass  # asked below, once the button was answered
            elif state == "ok":
                await conn.execute(
                    "UPDATE trainings SET state = 'cancelled', updated_at = ? WHERE id = ?",
                    (clock.now_db(), training.id),
                )
                await engine.reconcile(conn, svc, f"training:{training.id}")
                cancelled = await load(conn, training.id)
                assert cancelled is not None
                await _tell_all(conn, svc, cancelled, "cancelled")
                await audit.record(
                    conn,
                    actor=user,
                    action="training.cancel",
                    entity="training",
                    entity_id=training.id,
                )
        else:
            state = "gone"
    if state == "outsider":
        await refuse(update, context, identity, f"button.{query.data}", "training")
        return
    await query.answer()
    if state == "gone":
        await reply(update, context, "training/problem.j2", problem="gone")
    elif action == "a":
        await reply(update, context, "training/answered.j2", answer="attend", reason="")
    elif action == "l":
        await _ask(update, context, {"step": "reason", "training": int(raw_id)})
    elif action == "move":
        await _ask(update, context, {"step": "move", "training": int(raw_id)})
    else:
        await reply(update, context, "training/answered.j2", answer="cancelled", reason="")


def register(app: Application) -> None:
    app.add_handler(CommandHandler("training", training_command))
    app.add_handler(CallbackQueryHandler(training_button, pattern=r"^tr:"))
    conversation.register("training.details", take_text)
    conversation.register("training.leave", take_text)
    engine.register_source("training", desired, _live, of_task=_of_task, late_hours=False)
    engine.register_kind("training.remind", compose)
    engine.register_kind("training.summary", compose)
