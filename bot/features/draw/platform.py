"""/drawimport <task>, then the provincial platform's .xlsx/.csv (prompt draw.import): credit
codes, and optionally 执法证号 per object (else the bot draws the inspectors)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Sequence
from typing import Any

from telegram import Update

from bot import conversation, importer
from bot.domain import draw as rules
from bot.domain.roles import Identity
from bot.domain.tasks import TaskState
from bot.features.common import Context, command, identify, reply
from bot.features.draw.commit import commit
from bot.features.draw.helpers import base_rules, is_lead, task_arg
from bot.importer import file_message
from bot.services import services
from bot.store import draw as store
from bot.store import tasks as task_store
from bot.store.prompts import Prompt
from bot.store.tasks import Conn
from bot.tabular import TableError, open_table


async def platform_answer(update: Update, context: Context, prompt: Prompt) -> bool:
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


@command("drawimport")
async def drawimport_command(update: Update, context: Context, identity: Identity) -> None:
    task = await task_arg(update, context, identity, lead=True)
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


# The Zhejiang platform's templates write 统一社会信用代码/注册号 (and start data on row 4).
_CODE_HEADERS = (
    "统一社会信用代码",
    "信用代码",
    "credit_code",
    "统一社会信用代码/注册号",
    "统一社会信用代码（注册号）",
)


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
    if task is None or task.state is not TaskState.CONFIRMED or not is_lead(identity, task):
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
    digest = hashlib.sha256(data).hexdigest()
    done = await commit(svc, identity, task, "platform", seed, text, result, file_sha256=digest)
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
        labels = [str(c or "").strip().strip("*＊").strip() for c in cells]
        code_col = next((i for i, v in enumerate(labels) if v in _CODE_HEADERS), None)
        if code_col is not None:
            cert_col = next((i for i, v in enumerate(labels) if v in _CERT_HEADERS), None)
            break
        if row_no > 5:
            break
    if code_col is None:
        raise TableError(file_message("platform_row", key="no_code_column"))
    for row_no, cells in rows:
        code = str(cells[code_col] or "").strip().upper() if code_col < len(cells) else ""
        certs = None
        if cert_col is not None:
            certs = _split_certs(cells[cert_col] if cert_col < len(cells) else None)
        if code or certs:
            found.append((row_no, code, certs))
    return found


def problem(key: str, **facts: object) -> str:
    """One problem of the platform's file, in Chinese (templates/zh/imports/platform_row.j2)."""
    return file_message("platform_row", key=key, **facts)


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
    listed = {cert for _, _, certs in rows for cert in certs or []}
    anywhere = await store.inspectors_by_cert(conn, listed - set(people))
    departments = {d.code: d for d in inputs.departments}
    eligible = {
        code: {i.certificate_no for i in rules.eligible(inputs, dept)}
        for code, dept in departments.items()
    }
    names = await task_store.department_names(conn)
    least = inputs.rules.min_per_object
    errors: list[str] = []
    picked: list[tuple[str, str]] = []
    teams: list[list[tuple[str, str]]] = []
    with_certs = any(certs is not None for _, _, certs in rows)
    seen: set[str] = set()
    for row_no, code, certs in rows:
        if code not in directory:
            errors.append(problem("unknown_code", row=row_no, code=code))
            continue
        if code in seen:
            errors.append(problem("duplicate", row=row_no, code=code))
            continue
        seen.add(code)
        cls = (known[code].risk_class if code in known else classes.get(code)) or rules.UNCLASSIFIED
        picked.append((code, cls))
        if not with_certs:
            continue
        team: list[tuple[str, str]] = []
        if not certs:
            errors.append(problem("no_cert", row=row_no))
        distinct: list[str] = []
        for cert in certs or []:
            if cert in distinct:
                errors.append(problem("cert_twice", row=row_no, cert=cert))
                continue
            distinct.append(cert)
            person = people.get(cert)
            if person is None:
                other = anywhere.get(cert)
                if other is None:
                    errors.append(problem("unknown_cert", row=row_no, cert=cert))
                else:
                    errors.append(
                        problem(
                            "not_participating",
                            row=row_no,
                            cert=cert,
                            department=names.get(other.department_code, other.department_code),
                        )
                    )
                continue
            team.append((person.department, cert))
            if not person.active:
                errors.append(problem("inactive", row=row_no, cert=cert))
            elif person.valid_until is not None and person.valid_until < inputs.window_end:
                errors.append(
                    problem(
                        "expired",
                        row=row_no,
                        cert=cert,
                        until=person.valid_until.isoformat(),
                        end=inputs.window_end.isoformat(),
                    )
                )
            elif cert not in eligible[person.department]:
                needed = rules.required_specialties(
                    departments[person.department], inputs.inspectors
                )
                errors.append(
                    problem("specialty", row=row_no, cert=cert, needed="、".join(sorted(needed)))
                )
            if (cert, code) in inputs.conflicts:
                errors.append(problem("conflict", row=row_no, cert=cert))
        if certs and len(distinct) < least:
            errors.append(problem("too_few", row=row_no, count=len(distinct), least=least))
        if certs:
            present = {dept for dept, _ in team}
            missing = [names.get(c, c) for c in sorted(departments) if c not in present]
            if missing:
                errors.append(problem("missing_department", row=row_no, missing="、".join(missing)))
        teams.append(team)
    if not rows:
        errors.append(problem("no_rows"))
    return errors, picked, (teams if with_certs else None)
