"""Onboarding and identity: /start with a deep-link code, /invite, /me, /help, /cancel."""

from __future__ import annotations

import logging

import aiosqlite
from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import clock
from bot.callbacks import Pressed
from bot.domain import invites as invite_rules
from bot.domain.invites import CodeState
from bot.domain.roles import Identity, Role, Where, commands_for
from bot.features import bulk_invites, departures, joins, roster
from bot.features.common import Context, command, edit, identify, pressed, refuse, reply, stale
from bot.services import Services, services
from bot.store import audit, directories, invites, outbox, people

log = logging.getLogger(__name__)

ROLE_LETTERS = {"l": "liaison", "i": "inspector", "a": "admin"}
# Inspectors listed as buttons in the guided /invite flow; more than that, use the one-line form.
MAX_INSPECTOR_BUTTONS = 40


def command_descriptions(svc: Services) -> dict[str, str]:
    """Command menu texts, kept in templates/zh/commands.j2 as 'name: description' lines."""
    found: dict[str, str] = {}
    for line in svc.renderer.lines("commands.j2"):
        name, _, text = line.partition(":")
        found[name.strip()] = text.strip()
    return found


def menu_for(svc: Services, identity: Identity, where: Where) -> list[BotCommand]:
    texts = command_descriptions(svc)
    return [BotCommand(spec.name, texts[spec.name]) for spec in commands_for(identity, where)]


async def sync_person_menu(context: Context, identity: Identity) -> None:
    """Show this person the commands their roles allow in their private chat with the bot."""
    svc = services(context)
    try:
        await context.bot.set_my_commands(
            menu_for(svc, identity, Where.PRIVATE), scope=BotCommandScopeChat(identity.tg_user_id)
        )
    except TelegramError as exc:  # the person may never have opened the bot
        log.info("could not set commands for %s: %s", identity.tg_user_id, exc)


# -- /start ---------------------------------------------------------------------------------


@command("start")
async def start(update: Update, context: Context, identity: Identity) -> None:
    args = context.args or []
    if not args:
        await _greet(update, context, identity)
        return
    code = args[0]
    svc = services(context)
    invite = await invites.get(svc.db, code) if invite_rules.looks_like_code(code) else None
    # an enterprise's verification link (扫码入企, results/verify.py); a code issued before codes
    # avoided the prefix is still an invitation
    if invite is None and code.startswith(invite_rules.OTHER_START_PREFIXES):
        from bot.features import results as results_feature

        await results_feature.verify_start(update, context, code[2:])
        return
    state = invite_rules.state_of(invite, clock.now())
    if invite is None or state is not CodeState.VALID:
        await invites_refused(update, context, identity, code, state)
        return
    user = update.effective_user
    assert user is not None
    department = None
    if invite.department_code:
        department = await directories.get_department(svc.db, invite.department_code)
    inspector = None
    if invite.inspector_id is not None:
        inspector = await directories.get_inspector(svc.db, invite.inspector_id)

    async def after(conn: aiosqlite.Connection, replaced: list[int]) -> None:
        # The inviter hears of the join in their next digest (at most one an hour), planned
        # in this transaction; replaced liaisons are told here, through the outbox.
        await joins.planned(conn, svc, invite.created_by)
        if replaced and department is not None:
            told = svc.renderer.message(
                "onboarding/liaison_replaced.j2", department=department, full_name=user.full_name
            )
            for uid in replaced:
                await outbox.enqueue(
                    conn, uid, told, dedup_key=f"liaison-replaced:{invite.code}:{uid}"
                )

    if not await invites.redeem(svc.db, invite, user.id, user.full_name, user.username, after):
        await invites_refused(update, context, identity, code, CodeState.USED)
        return
    identity = await identify(update, context)
    names = await people.department_names(svc.db, identity.liaison_departments)
    await reply(
        update,
        context,
        "onboarding/welcome.j2",
        role=invite.role,
        identity=identity,
        department=department,
        inspector=inspector,
        departments=names,
    )
    await sync_person_menu(context, identity)


async def invites_refused(
    update: Update, context: Context, identity: Identity, code: str, state: CodeState
) -> None:
    svc = services(context)
    async with svc.db.transaction() as conn:
        await audit.record(
            conn,
            actor=identity.tg_user_id,
            action="onboard.refused",
            entity="invite_code",
            entity_id=code[:64],
            outcome="refused",
            detail={"state": state.value},
        )
    await reply(update, context, "onboarding/code_refused.j2", state=state.value, identity=identity)


async def _greet(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    names = await people.department_names(svc.db, identity.liaison_departments)
    await reply(update, context, "onboarding/greeting.j2", identity=identity, departments=names)


# -- /me, /help, /cancel ----------------------------------------------------------------------


@command("me")
async def me(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    codes = identity.liaison_departments
    if identity.inspector_department and identity.inspector_department not in codes:
        codes = (*codes, identity.inspector_department)
    names = await people.department_names(svc.db, codes)
    inspector = None
    if identity.inspector_id is not None:
        inspector = await directories.get_inspector(svc.db, identity.inspector_id)
    await reply(
        update,
        context,
        "onboarding/me.j2",
        identity=identity,
        departments=names,
        inspector=inspector,
        inspector_department=names.get(inspector.department_code) if inspector else None,
    )


async def result_categories(svc: Services) -> list[tuple[int, str]]:
    rows = await svc.db.fetchall("SELECT code, label FROM result_categories ORDER BY sort, code")
    return [(int(r[0]), str(r[1])) for r in rows]


@command("help")
async def help_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    chat = update.effective_chat
    where = Where.PRIVATE if chat is not None and chat.type == ChatType.PRIVATE else Where.GROUP
    texts = command_descriptions(svc)
    listed = [(spec.name, texts[spec.name]) for spec in commands_for(identity, where)]
    await reply(
        update,
        context,
        "help.j2",
        identity=identity,
        commands=listed,
        where=where.value,
        roles=sorted(r.value for r in identity.roles),
        result_categories=await result_categories(svc),
    )


@command("cancel")
async def cancel(update: Update, context: Context, identity: Identity) -> None:
    await reply(update, context, "common/cancelled.j2")


# -- /invite ----------------------------------------------------------------------------------


@command("invite")
async def invite(update: Update, context: Context, identity: Identity) -> None:
    """/invite liaison|inspector|admin …, and links in bulk: /invite inspectors <部门编码|all>
    [重发] (bot/features/bulk_invites.py). Liaisons may only do the latter (and the one-person
    form) for their own department's inspectors; everything else is the administrators'."""
    args = context.args or []
    svc = services(context)
    if args and args[0].lower() in bulk_invites.BULK_WORDS:
        await bulk_invites.bulk(update, context, identity, args[1:])
        return
    if not identity.is_admin and not (
        len(args) >= 2 and args[0].lower() in ("inspector", "检查人员", "执法人员")
    ):
        await refuse(update, context, identity, "command.invite", "role")
        return
    if not args:
        await reply(update, context, "onboarding/invite_pick_role.j2")
        return
    role = {
        "liaison": "liaison",
        "联络员": "liaison",
        "inspector": "inspector",
        "检查人员": "inspector",
        "执法人员": "inspector",
        "admin": "admin",
        "管理员": "admin",
    }.get(args[0].lower())
    if role is None:
        await reply(update, context, "onboarding/invite_usage.j2", problem="role", given=args[0])
        return
    if role == "admin":
        await _issue(update, context, identity, "admin")
        return
    if len(args) < 2:
        await reply(update, context, "onboarding/invite_usage.j2", problem="department", given="")
        return
    department = await directories.get_department(svc.db, args[1])
    if department is None:
        await reply(
            update,
            context,
            "onboarding/invite_usage.j2",
            problem="unknown_department",
            given=args[1],
        )
        return
    if role == "liaison":
        current = await people.liaison_names(svc.db, department.code)
        if current:  # replace them, or add one more: the administrator says which
            await reply(
                update,
                context,
                "onboarding/liaison_replace_ask.j2",
                department=department,
                current=current,
            )
            return
        await _issue(update, context, identity, "liaison", department_code=department.code)
        return
    if len(args) < 3:  # /invite inspector <部门编码>: everyone of that department at once
        await bulk_invites.bulk(update, context, identity, args[1:])
        return
    if bulk_invites.refused_for(identity, svc, [department.code]):
        await bulk_invites.refuse_bulk(update, context, identity, [department.code])
        return
    inspector = await directories.find_inspector_by_certificate(svc.db, args[2])
    if inspector is None or inspector.department_code != department.code or not inspector.active:
        await reply(
            update,
            context,
            "onboarding/invite_usage.j2",
            problem="unknown_inspector",
            given=args[2],
            department=department,
        )
        return
    await _issue(
        update,
        context,
        identity,
        "inspector",
        department_code=department.code,
        inspector_id=inspector.id,
    )


@pressed("ivl", Role.ADMIN, parts=2, numbers=())
async def liaison_choice(update: Update, context: Context, identity: Identity, cb: Pressed) -> None:
    """The answer to "this department has a liaison": ivl:r:<dept> replace them,
    ivl:a:<dept> add one more. The link is made now; the replacement happens when it is used."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    mode, code = cb.text(0), cb.rest(1)
    department = await directories.get_department(svc.db, code) if code else None
    if mode not in ("r", "a") or department is None:
        await stale(update, context)
        return
    await query.answer()
    await _issue(
        update,
        context,
        identity,
        "liaison",
        department_code=department.code,
        edit_in_place=True,
        replaces_liaisons=mode == "r",
    )


async def _issue(
    update: Update,
    context: Context,
    identity: Identity,
    role: str,
    *,
    department_code: str | None = None,
    inspector_id: int | None = None,
    edit_in_place: bool = False,
    replaces_liaisons: bool = False,
) -> None:
    svc = services(context)
    code = invite_rules.new_code()
    expires_at = invite_rules.expiry(clock.now(), svc.settings.tunables.invite_ttl_days)
    await invites.create(
        svc.db,
        code=code,
        role=role,
        created_by=identity.tg_user_id,
        expires_at=expires_at,
        department_code=department_code,
        inspector_id=inspector_id,
        replaces_liaisons=replaces_liaisons,
    )
    department = (
        await directories.get_department(svc.db, department_code) if department_code else None
    )
    inspector = (
        await directories.get_inspector(svc.db, inspector_id) if inspector_id is not None else None
    )
    ctx = dict(
        role=role,
        link=invite_rules.deep_link(context.bot.username, code),
        code=code,
        expires=expires_at.astimezone(svc.settings.tz),
        department=department,
        inspector=inspector,
        replaces=await people.liaison_names(svc.db, department.code)
        if replaces_liaisons and department
        else [],
    )
    if edit_in_place:
        await edit(update, context, "onboarding/invite_link.j2", **ctx)
    else:
        await reply(update, context, "onboarding/invite_link.j2", **ctx)


@pressed("inv", Role.ADMIN, parts=2, numbers=())
async def invite_button(update: Update, context: Context, identity: Identity, cb: Pressed) -> None:
    """Guided /invite: inv:r:<role> -> inv:d:<role>:<department> -> inv:p:<inspector id>."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    step, letter = cb.text(0), cb.text(1)
    parts = ["inv", step, letter, cb.rest(2)]
    known = (
        (step == "r" and letter in ROLE_LETTERS)
        or (step == "d" and letter in ("l", "i") and bool(parts[3]))
        or (step == "p" and letter.isdigit())
    )
    if not known:
        await stale(update, context)
        return
    await query.answer()
    if parts[1] == "r" and parts[2] in ROLE_LETTERS:
        role = ROLE_LETTERS[parts[2]]
        if role == "admin":
            await _issue(update, context, identity, "admin", edit_in_place=True)
            return
        departments = await directories.list_departments(svc.db)
        await edit(
            update,
            context,
            "onboarding/invite_pick_department.j2",
            role=role,
            letter=parts[2],
            departments=[d for d in departments if len(d.code.encode()) <= 48],
        )
    elif parts[1] == "d":
        department = await directories.get_department(svc.db, parts[3])
        if department is None:
            await edit(
                update,
                context,
                "onboarding/invite_usage.j2",
                problem="unknown_department",
                given=parts[3],
            )
            return
        if parts[2] == "l":
            current = await people.liaison_names(svc.db, department.code)
            if current:
                await edit(
                    update,
                    context,
                    "onboarding/liaison_replace_ask.j2",
                    department=department,
                    current=current,
                )
                return
            await _issue(
                update,
                context,
                identity,
                "liaison",
                department_code=department.code,
                edit_in_place=True,
            )
            return
        listed = await directories.list_inspectors(svc.db, department.code)
        # More than fit as buttons: the bulk path (one workbook for the whole department).
        await edit(
            update,
            context,
            "onboarding/invite_pick_inspector.j2",
            department=department,
            inspectors=listed[:MAX_INSPECTOR_BUTTONS],
            more=len(listed) > MAX_INSPECTOR_BUTTONS,
        )
    elif parts[1] == "p":
        inspector = await directories.get_inspector(svc.db, int(parts[2]))
        if inspector is None:
            await edit(
                update,
                context,
                "onboarding/invite_usage.j2",
                problem="unknown_inspector",
                given=parts[2],
                department=None,
            )
            return
        await _issue(
            update,
            context,
            identity,
            "inspector",
            department_code=inspector.department_code,
            inspector_id=inspector.id,
            edit_in_place=True,
        )


def register(app: Application) -> None:
    joins.register()  # reminder-engine sources: join digests, people who left
    departures.register()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("help", help_command))
    app.add_handler(CommandHandler("me", me))
    app.add_handler(CommandHandler("cancel", cancel))
    app.add_handler(CommandHandler("invite", invite))
    app.add_handler(CommandHandler("roster", roster.roster))
    app.add_handler(CallbackQueryHandler(invite_button, pattern=r"^inv:"))
    app.add_handler(CallbackQueryHandler(liaison_choice, pattern=r"^ivl:"))
