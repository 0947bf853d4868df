"""The county directories in the bot: upload a spreadsheet to import, /template, /directories."""

from __future__ import annotations

import io
import logging
from pathlib import PurePath

from telegram import Document, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import clock, importer, tabular
from bot.callbacks import Pressed
from bot.domain.roles import Identity, Role
from bot.features import plan as plan_feature
from bot.features.common import (
    Context,
    command,
    edit,
    identify,
    pressed,
    refuse,
    reply,
    stale,
)
from bot.services import services
from bot.store import directories

log = logging.getLogger(__name__)

KINDS = ("departments", "inspectors", "objects", "items")
PLAN = "plan"  # the picker's 年度计划 button (bot.features.plan imports the file)
SUPPORTED = tabular.SUPPORTED_EXTENSIONS  # .xlsx .xlsm .xls .ods .csv
# Caption words that ask for a check without writing. Not "检查": it begins 检查对象 / 检查事项.
DRY_RUN_WORDS = ("试导入", "预检", "dry-run", "dry")


@command("directories")
async def overview(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    counts = {kind: await directories.count_directory(svc.db, kind) for kind in KINDS}
    await reply(
        update,
        context,
        "directories/overview.j2",
        counts=counts,
        labels=importer.KIND_LABELS,
        departments=await directories.list_departments(svc.db),
    )


@command("import")
async def import_help(update: Update, context: Context, identity: Identity) -> None:
    await reply(
        update,
        context,
        "directories/import_help.j2",
        labels=importer.KIND_LABELS,
        max_mb=services(context).settings.tunables.max_import_mb,
    )


@command("template")
async def template(update: Update, context: Context, identity: Identity) -> None:
    args = context.args or []
    kind = importer.parse_kind(args[0]) if args else None
    if kind is None:
        await reply(
            update,
            context,
            "directories/template_pick.j2",
            labels=importer.KIND_LABELS,
            given=args[0] if args else None,
        )
        return
    await _send_template(update, context, kind)


@pressed("tpl", Role.ADMIN, numbers=())
async def template_button(
    update: Update, context: Context, identity: Identity, cb: Pressed
) -> None:
    """tpl:<kind>: the template of one directory."""
    query = update.callback_query
    assert query is not None
    kind = cb.text(0)
    if kind not in KINDS:
        await stale(update, context)
        return
    await query.answer()
    await _send_template(update, context, kind)


async def _send_template(update: Update, context: Context, kind: str) -> None:
    chat = update.effective_chat
    assert chat is not None
    svc = services(context)
    label = importer.KIND_LABELS[kind]
    await context.bot.send_document(
        chat.id,
        document=io.BytesIO(importer.template_xlsx(kind)),
        filename=f"{label}模板.xlsx",
        caption=svc.renderer.text("directories/template_caption.j2", label=label, kind=kind),
    )


async def document_received(update: Update, context: Context) -> None:
    """An administrator sent a file in private chat: import it (the caption may name the kind)."""
    message = update.effective_message
    if message is None or message.document is None or update.effective_user is None:
        return
    identity = await identify(update, context)
    if not identity.has(Role.ADMIN):
        await refuse(update, context, identity, "import.upload", "role")
        return
    svc = services(context)
    doc: Document = message.document
    name = doc.file_name or "upload"
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUPPORTED:
        await reply(update, context, "directories/unsupported_file.j2", name=name, suffix=suffix)
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
    for word in DRY_RUN_WORDS:
        caption = caption.replace(word, " ")
    kind = _kind_from_caption(caption)
    if kind is None:
        async with svc.db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO pending_uploads (tg_user_id, file_id, file_name, file_size, dry_run,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    identity.tg_user_id,
                    doc.file_id,
                    name,
                    doc.file_size,
                    int(dry_run),
                    clock.now_db(),
                ),
            )
            inserted = await cursor.fetchone()
            pending_id = int(inserted[0]) if inserted else None
        await reply(
            update,
            context,
            "directories/pick_kind.j2",
            name=name,
            pending_id=pending_id,
            labels=importer.KIND_LABELS,
        )
        return
    await reply(
        update,
        context,
        "directories/importing.j2",
        name=name,
        label=importer.KIND_LABELS[kind],
        dry_run=dry_run,
    )
    report = await _download_and_import(context, identity, kind, doc.file_id, name, dry_run)
    await reply(
        update, context, "directories/report.j2", report=report, label=importer.KIND_LABELS[kind]
    )


@pressed("imp", Role.ADMIN, parts=2)
async def kind_button(update: Update, context: Context, identity: Identity, cb: Pressed) -> None:
    """imp:<pending id>:<kind> picks the directory (or `plan`, the annual plan) for a file sent
    without a caption."""
    query = update.callback_query
    assert query is not None
    pending_id, kind = cb.number(0), cb.text(1)
    svc = services(context)
    if kind not in KINDS and kind != PLAN:
        await stale(update, context)
        return
    async with svc.db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE pending_uploads SET consumed_at = ? WHERE id = ? AND tg_user_id = ?"
            " AND consumed_at IS NULL RETURNING file_id, file_name, dry_run",
            (clock.now_db(), pending_id, identity.tg_user_id),
        )
        row = await cursor.fetchone()
    if row is None:
        await query.answer(svc.renderer.text("directories/already_imported.j2"), show_alert=True)
        return
    await query.answer()
    if kind == PLAN:
        dry_run = bool(row["dry_run"])
        await edit(update, context, "plan/importing.j2", name=row["file_name"], dry_run=dry_run)
        await plan_feature.import_plan_file(
            update, context, identity, row["file_id"], row["file_name"], dry_run
        )
        return
    label = importer.KIND_LABELS[kind]
    await edit(
        update,
        context,
        "directories/importing.j2",
        name=row["file_name"],
        label=label,
        dry_run=bool(row["dry_run"]),
    )
    report = await _download_and_import(
        context, identity, kind, row["file_id"], row["file_name"], bool(row["dry_run"])
    )
    await reply(update, context, "directories/report.j2", report=report, label=label)


async def _download_and_import(
    context: Context, identity: Identity, kind: str, file_id: str, name: str, dry_run: bool
) -> importer.ImportReport:
    svc = services(context)
    try:
        telegram_file = await context.bot.get_file(file_id)
        data = bytes(await telegram_file.download_as_bytearray())
    except TelegramError as exc:
        log.warning("download of %s failed: %s", name, exc)
        return importer.ImportReport.unreadable(
            kind,
            name,
            svc.renderer.text("directories/download_failed.j2", reason=str(exc)),
            dry_run=dry_run,
        )
    return await importer.import_file(
        svc.db,
        kind,
        name,
        data,
        dry_run=dry_run,
        actor=identity.tg_user_id,
        tunables=svc.settings.tunables,
        tz=svc.settings.tz,
    )


def _kind_from_caption(caption: str) -> str | None:
    for word in caption.replace("，", " ").replace(",", " ").split():
        kind = importer.parse_kind(word)
        if kind:
            return kind
    return None


def register(app: Application) -> None:
    app.add_handler(CommandHandler("directories", overview))
    app.add_handler(CommandHandler("import", import_help))
    app.add_handler(CommandHandler("template", template))
    app.add_handler(CallbackQueryHandler(template_button, pattern=r"^tpl:"))
    app.add_handler(CallbackQueryHandler(kind_button, pattern=r"^imp:"))
    app.add_handler(
        MessageHandler(filters.ChatType.PRIVATE & filters.Document.ALL, document_received)
    )


__all__ = ["KINDS", "register"]
