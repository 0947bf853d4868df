"""/invite inspectors <部门编码|all> [重发]: one single-use link for every directory inspector
not yet registered, as a workbook (links and QR codes) the inviter forwards or prints.
Administrators may ask for any department or all; a department's liaison for their own
department only, while `[onboarding] liaison_invites` allows it. Refusals are audited."""

from __future__ import annotations

import io

from telegram import Update

from bot import bulk_invites as service
from bot.domain.onboarding import REISSUE_WORDS, Refusal, bulk_refusal, scope
from bot.domain.roles import Identity
from bot.features.common import Context, reply
from bot.render import Renderer
from bot.services import Services, services
from bot.store import audit, directories

BULK_WORDS = frozenset({"inspectors", "检查人员名单", "全体检查人员", "批量"})
_SHEET_TEXTS = Renderer(html=False)


def refused_for(identity: Identity, svc: Services, departments: list[str]) -> Refusal | None:
    return bulk_refusal(
        identity,
        departments,
        everyone=False,
        liaison_invites=svc.settings.tunables.liaison_invites,
    )


async def refuse_bulk(
    update: Update,
    context: Context,
    identity: Identity,
    departments: list[str],
    refusal: Refusal | None = None,
) -> None:
    svc = services(context)
    refusal = refusal or refused_for(identity, svc, departments) or Refusal.NOT_ALLOWED
    async with svc.db.transaction() as conn:
        await audit.record(
            conn,
            actor=identity.tg_user_id,
            action="command.invite",
            entity="department",
            entity_id=",".join(departments)[:64],
            outcome="refused",
            detail={"reason": refusal.value, "departments": departments},
        )
    names = await directories.department_names(svc.db)
    await reply(
        update,
        context,
        "onboarding/bulk_refused.j2",
        reason=refusal.value,
        own=[names.get(c, c) for c in identity.liaison_departments],
    )


async def bulk(update: Update, context: Context, identity: Identity, args: list[str]) -> None:
    """`args`: the department code (or all) and optionally 重发."""
    svc = services(context)
    if not args:
        await reply(update, context, "onboarding/bulk_usage.j2", problem="department")
        return
    reissue = any(a.lower() in REISSUE_WORDS for a in args[1:])
    known = await directories.department_names(svc.db)
    wanted = args[0]
    if wanted.lower() not in ("all", "全部") and wanted not in known:
        department = await directories.get_department(svc.db, wanted)  # trims, as /invite does
        if department is None:
            await reply(
                update, context, "onboarding/bulk_usage.j2", problem="unknown", given=wanted
            )
            return
        wanted = department.code
    departments, everyone = scope(identity, wanted, sorted(known))
    refusal = bulk_refusal(
        identity,
        departments,
        everyone=everyone,
        liaison_invites=svc.settings.tunables.liaison_invites,
    )
    if refusal is not None:
        await refuse_bulk(update, context, identity, departments, refusal)
        return
    result = await service.issue(
        svc.db,
        _SHEET_TEXTS,
        actor=identity.tg_user_id,
        departments=departments,
        reissue=reissue,
        ttl_days=svc.settings.tunables.invite_ttl_days,
        bot_username=context.bot.username,
        tz=svc.settings.tz,
        label=known.get(departments[0], "") if len(departments) == 1 else "",
    )
    plan = result.plan
    per_department = {
        code: {
            "name": known.get(code, code),
            "new": sum(1 for p in plan.new if p.department_code == code),
            "pending": sum(1 for p in plan.pending if p.department_code == code),
            "registered": sum(1 for p in plan.registered if p.department_code == code),
        }
        for code in departments
    }
    await reply(
        update,
        context,
        "onboarding/bulk_report.j2",
        plan=plan,
        everyone=everyone,
        wanted=wanted,
        departments=[d for d in per_department.values() if d["new"] or d["pending"]]
        if len(departments) > 1
        else list(per_department.values()),
        quiet_departments=sum(
            1 for d in per_department.values() if not d["new"] and not d["pending"]
        ),
        reissue=reissue,
        ttl_days=svc.settings.tunables.invite_ttl_days,
    )
    if result.sheet is not None:
        chat = update.effective_chat
        assert chat is not None
        await context.bot.send_document(
            chat.id,
            document=io.BytesIO(result.sheet.data),
            filename=result.sheet.file_name,
            caption=svc.renderer.text("onboarding/bulk_caption.j2", count=len(plan.new)),
        )
