"""The annual random-inspection plan (年度抽查计划) in the bot, administrators only (private chat):

* a .xlsx/.csv file whose caption contains 计划 (计划, 年度计划, 2026年双随机抽查计划 …; add 试导入
  to check only) imports it, replacing the plan of each year the file covers; a year in the
  caption is the plan year of periods written without one ("3月—12月"); a file sent without a
  caption gets the directories' picker, which always offers 年度计划 too (`import_plan_file`);
* /plan [year] shows a year's plan; /plan export [year] sends it as .xlsx for publication.

The upload handler is registered before the directories' one (bot/app.py) and only sees
documents whose caption names the plan, so directory uploads are unaffected.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from pathlib import PurePath

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from bot import clock, plan_import, tabular
from bot.domain.plan import title_year
from bot.domain.roles import Identity, Role
from bot.features.common import Context, command, identify, refuse, reply
from bot.services import Services, services
from bot.store import directories as directory_store

log = logging.getLogger(__name__)

SUPPORTED = tabular.SUPPORTED_EXTENSIONS  # .xlsx .xlsm .xls .ods .csv
DRY_RUN_WORDS = ("试导入", "预检", "dry-run", "dry")
# Any caption containing 计划: 计划, 2026年度计划, 2026年双随机抽查计划, 联合抽查工作计划 …
CAPTION = re.compile(r"计划")


def this_year(svc: Services) -> int:
    return clock.now().astimezone(svc.settings.tz).year


def _year(text: str) -> int | None:
    text = text.strip().removesuffix("年").removesuffix("年度")
    if len(text) == 4 and text.isdigit() and 2000 <= int(text) <= 2100:
        return int(text)
    return None


@command("plan")
async def plan_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    args = list(context.args or [])
    export = bool(args) and args[0].lower() in ("export", "导出")
    if export:
        args = args[1:]
    year = this_year(svc) if not args else _year(args[0])
    if year is None or len(args) > 1:
        await reply(update, context, "plan/usage.j2", given=" ".join(args))
        return
    items = await plan_import.load_items(svc.db, year)
    names = await directory_store.department_names(svc.db)
    if not export:
        await reply(update, context, "plan/summary.j2", year=year, items=items, names=names)
        return
    if not items:
        await reply(update, context, "plan/export_empty.j2", year=year)
        return
    chat = update.effective_chat
    assert chat is not None
    rows = plan_import.export_rows(items, names)
    title, *headers = svc.renderer.text("plan/export_sheet.j2", year=year).splitlines()
    data = await asyncio.to_thread(plan_import.export_xlsx, title, headers, rows)
    await context.bot.send_document(
        chat.id,
        document=io.BytesIO(data),
        filename=f"{title}.xlsx",
        caption=svc.renderer.text("plan/export_caption.j2", year=year, count=len(items)),
    )


async def plan_upload(update: Update, context: Context) -> None:
    """A file captioned 计划 in private chat: import the annual plan (administrators only)."""
    message = update.effective_message
    if message is None or message.document is None or update.effective_user is None:
        return
    identity = await identify(update, context)
    if not identity.has(Role.ADMIN):
        await refuse(update, context, identity, "import.plan", "role")
        return
    svc = services(context)
    doc = message.document
    name = doc.file_name or "upload"
    if PurePath(name).suffix.lower() not in SUPPORTED:
        await reply(update, context, "plan/unsupported_file.j2", name=name)
        return
    limit_mb = svc.settings.tunables.max_import_mb
    if doc.file_size is not None and doc.file_size > limit_mb * 1024 * 1024:
        await reply(
            update,
            context,
            "directories/too_large.j2",
            name=name,
            size=doc.file_size,
            limit_mb=limit_mb,
        )
        return
    caption = (message.caption or "").lower()
    dry_run = any(word in caption for word in DRY_RUN_WORDS)
    await reply(update, context, "plan/importing.j2", name=name, dry_run=dry_run)
    await import_plan_file(update, context, identity, doc.file_id, name, dry_run, caption)


async def import_plan_file(
    update: Update,
    context: Context,
    identity: Identity,
    file_id: str,
    name: str,
    dry_run: bool,
    caption: str = "",
) -> None:
    """Download an uploaded plan file, import it and answer with the report (the upload above,
    or the 年度计划 button of the directories' picker)."""
    svc = services(context)
    try:
        telegram_file = await context.bot.get_file(file_id)
        data = bytes(await telegram_file.download_as_bytearray())
    except TelegramError as exc:
        log.warning("download of %s failed: %s", name, exc)
        report = plan_import.PlanReport(
            filename=name,
            dry_run=dry_run,
            file_error=svc.renderer.text("directories/download_failed.j2", reason=str(exc)),
        )
    else:
        report = await plan_import.import_plan(
            svc.db,
            name,
            data,
            dry_run=dry_run,
            actor=identity.tg_user_id,
            tunables=svc.settings.tunables,
            year=title_year(caption),
        )
    await reply(update, context, "plan/report.j2", report=report)


def register(app: Application) -> None:
    """Before bot.features.directories.register: the upload handler must see plan files first."""
    app.add_handler(CommandHandler("plan", plan_command))
    app.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & filters.Document.ALL & filters.CaptionRegex(CAPTION),
            plan_upload,
        )
    )
