"""/roster [部门编码]: per department, which directory inspectors are registered, which have an
unused link, which never opened the bot, which blocked it, and who left. Administrators see
every department; a liaison their own (another department's roster is refused and audited).
A long roster comes as a document, as every long text does (features.common.send)."""

from __future__ import annotations

from collections import Counter, defaultdict

from telegram import Update

from bot.domain.onboarding import Standing, standing
from bot.domain.roles import Identity
from bot.features.common import Context, command, refuse, reply
from bot.services import services
from bot.store import directories
from bot.store import onboarding as store

ORDER = (Standing.REGISTERED, Standing.PENDING, Standing.NEVER, Standing.BLOCKED, Standing.INACTIVE)


@command("roster")
async def roster(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    args = context.args or []
    if args:
        department = await directories.get_department(svc.db, args[0])
        if department is None:
            await reply(update, context, "onboarding/roster.j2", unknown=args[0], departments=[])
            return
        if not identity.is_admin and department.code not in identity.liaison_departments:
            await refuse(update, context, identity, "command.roster", "other_department")
            return
        codes: list[str] | None = [department.code]
    else:
        codes = None if identity.is_admin else list(identity.liaison_departments)
    async with svc.db.transaction() as conn:
        rows = await store.roster(conn, codes)
    grouped: dict[str, dict[Standing, list[store.RosterRow]]] = defaultdict(
        lambda: {s: [] for s in ORDER}
    )
    names: dict[str, str] = {}
    for row in rows:
        grouped[row.state.department_code][standing(row.state)].append(row)
        names[row.state.department_code] = row.department_name
    departments = [
        {
            "code": code,
            "name": names[code],
            "total": sum(len(v) for v in by.values()),
            "groups": [(s.value, by[s]) for s in ORDER],
        }
        for code, by in grouped.items()
    ]
    counted = Counter(standing(row.state) for row in rows)
    totals = {s.value: counted[s] for s in ORDER}
    await reply(
        update,
        context,
        "onboarding/roster.j2",
        departments=departments,
        totals=totals,
        unknown=None,
        tz=svc.settings.tz,
    )
