"""Command line: `python -m bot sandbox | run | migrate | import | template | invites | doctor |
backup`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from bot import __version__
from bot.config import ConfigError, Settings, load_settings
from bot.db import MigrationError, require_migrations


class RedactingFilter(logging.Filter):
    """Keeps the bot token out of every log line (httpx logs request URLs, which carry it)."""

    def __init__(self, secret: str | None) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret:
            message = record.getMessage()
            if self.secret in message:
                record.msg = message.replace(self.secret, "<BOT_TOKEN>")
                record.args = None
        return True


def setup_logging(settings: Settings, level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter(settings.token))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot import runner
    from bot.app import build_application

    if args.webhook:
        settings.webhook.require()
    app = build_application(settings)
    runner.run(app, settings, webhook=args.webhook)
    return 0


def cmd_sandbox(settings: Settings, args: argparse.Namespace) -> int:
    from bot.render import Renderer
    from bot.sandbox import PortInUse, serve

    texts = Renderer(html=False)
    try:
        asyncio.run(serve(settings, Path(args.data_dir), port=args.port, reset=args.reset))
    except PortInUse as exc:
        print(texts.text("sandbox/error.j2", key="port_in_use", port=exc.port), file=sys.stderr)
        return 1
    except OSError as exc:
        message = exc.strerror or str(exc)
        print(texts.text("sandbox/error.j2", key="start_failed", value=message), file=sys.stderr)
        return 1
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from bot.db import Database

    async def go() -> list[str]:
        db = Database(settings.database)
        await db.connect()
        try:
            return await db.migrate()
        finally:
            await db.close()

    applied = asyncio.run(go())
    names = ", ".join(applied) or "none pending"
    print(f"applied {len(applied)} migration(s): {names} ({settings.database_label})")
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from bot import importer
    from bot.db import open_database
    from bot.render import Renderer

    if args.kind.strip().lower() in PLAN_WORDS:
        return cmd_import_plan(settings, args)
    kind = importer.parse_kind(args.kind)
    if kind is None:
        print(
            f"unknown directory kind {args.kind!r}: use departments, inspectors, objects, items"
            " or plan",
            file=sys.stderr,
        )
        return 2
    path = Path(args.file)
    if not path.is_file():
        print(f"file not found: {path}", file=sys.stderr)
        return 2

    data = path.read_bytes()

    async def go() -> importer.ImportReport:
        async with open_database(settings.database) as db:
            return await importer.import_file(
                db,
                kind,
                path.name,
                data,
                dry_run=args.dry_run,
                tunables=settings.tunables,
                tz=settings.tz,
            )

    report = asyncio.run(go())
    text = Renderer(html=False).text(
        "directories/report_plain.j2", report=report, label=importer.KIND_LABELS[kind]
    )
    print(text)
    return 0 if report.ok else 1


PLAN_WORDS = ("plan", "计划", "年度计划", "抽查计划", "年度抽查计划")


def cmd_import_plan(settings: Settings, args: argparse.Namespace) -> int:
    """`import plan FILE [--dry-run]`: the annual plan, replacing each year the file covers."""
    from bot import plan_import
    from bot.db import open_database
    from bot.render import Renderer

    path = Path(args.file)
    if not path.is_file():
        print(f"file not found: {path}", file=sys.stderr)
        return 2
    data = path.read_bytes()

    async def go() -> plan_import.PlanReport:
        async with open_database(settings.database) as db:
            return await plan_import.import_plan(
                db, path.name, data, dry_run=args.dry_run, tunables=settings.tunables
            )

    report = asyncio.run(go())
    print(Renderer(html=False).text("plan/report_plain.j2", report=report))
    return 0 if report.ok else 1


def cmd_template(settings: Settings, args: argparse.Namespace) -> int:
    from bot import importer

    kind = importer.parse_kind(args.kind)
    if kind is None:
        print(f"unknown directory kind {args.kind!r}", file=sys.stderr)
        return 2
    Path(args.out).write_bytes(importer.template_xlsx(kind))
    print(f"wrote {args.out}")
    return 0


def cmd_verify_draw(settings: Settings, args: argparse.Namespace) -> int:
    """A task's draw from the database, or an exported draw file alone (no database read)."""
    from bot.db import open_database
    from bot.domain import draw_audit
    from bot.features.draw import verify
    from bot.render import Renderer

    renderer = Renderer(html=False)
    if args.file:
        try:
            data = Path(args.file).read_bytes()
            if data[:2] == b"PK":  # the group's .xlsx list, carrying the export
                from bot.features.draw.views import export_in_xlsx

                data = export_in_xlsx(data) or b""
            exported = draw_audit.read_export(data)
        except OSError as exc:
            print(f"{args.file}: {exc}", file=sys.stderr)
            return 2
        except draw_audit.ExportError as exc:
            print(renderer.text("draw/export_unreadable.j2", key=exc.key), file=sys.stderr)
            return 2
        outcome = draw_audit.audit_export(exported)
        text = renderer.text(
            "draw/verify.j2",
            **verify.view(
                exported.record.task_id,
                exported.record,
                outcome,
                enterprises=exported.enterprises,
                inspectors=exported.inspectors,
                exported_at=exported.exported_at or "-",
            ),
        )
        print(text.rstrip())
        return 0 if outcome.identical else 1
    if args.task is None:
        print(renderer.text("draw/export_unreadable.j2", key="usage"), file=sys.stderr)
        return 2

    async def go() -> tuple[str, bool]:
        async with open_database(settings.database) as db:
            async with db.transaction() as conn:
                loaded = await verify.load(conn, args.task)
        if loaded is None:
            return renderer.text("draw/verify.j2", **verify.view(args.task, None, None)), False
        outcome = await verify.run_audit(loaded)
        return renderer.text(
            "draw/verify.j2",
            **verify.view(
                args.task,
                loaded.record,
                outcome,
                enterprises=loaded.enterprises,
                inspectors=loaded.inspectors,
                departments=loaded.departments,
            ),
        ), outcome.identical

    text, identical = asyncio.run(go())
    print(text.rstrip())
    return 0 if identical else 1


def cmd_export_draw(settings: Settings, args: argparse.Namespace) -> int:
    """A task's draw as one JSON file that `verify-draw --file` verifies alone."""
    from bot.db import open_database
    from bot.features.draw import verify

    async def go() -> bytes | None:
        async with open_database(settings.database) as db:
            async with db.transaction() as conn:
                loaded = await verify.load(conn, args.task)
        return loaded.export() if loaded is not None else None

    data = asyncio.run(go())
    if data is None:
        print(f"task {args.task} has no recorded draw", file=sys.stderr)
        return 1
    out = Path(args.out or f"draw-{args.task}.json")
    out.write_bytes(data)
    print(f"wrote {out}")
    return 0


def cmd_invites(settings: Settings, args: argparse.Namespace) -> int:
    """`invites inspectors <部门编码|all> --out FILE.xlsx [--reissue]`: the same links in bulk as
    /invite inspectors, made in the name of `--by` (default: the first of BOT_ADMINS), who
    then gets the join digests."""
    from bot import bulk_invites
    from bot.db import open_database
    from bot.render import Renderer
    from bot.store import directories

    texts = Renderer(html=False)
    by = args.by if args.by is not None else min(settings.admins, default=None)
    if by is None:
        print(texts.text("onboarding/cli_invites.j2", problem="no_admin"), file=sys.stderr)
        return 2

    async def go() -> tuple[int, str, bytes | None]:
        async with open_database(settings.database) as db:
            known = await directories.department_names(db)
            wanted = args.department
            if wanted.lower() in ("all", "全部"):
                codes = sorted(known)
            elif wanted in known:
                codes = [wanted]
            else:
                problem = texts.text("onboarding/cli_invites.j2", problem="unknown", given=wanted)
                return 2, problem, None
            result = await bulk_invites.issue(
                db,
                texts,
                actor=by,
                departments=codes,
                reissue=args.reissue,
                ttl_days=settings.tunables.invite_ttl_days,
                bot_username=args.bot_username.lstrip("@"),
                tz=settings.tz,
                label=known[codes[0]] if len(codes) == 1 else "",
            )
        text = texts.text("onboarding/cli_invites.j2", problem="", plan=result.plan, out=args.out)
        return 0, text, result.sheet.data if result.sheet is not None else None

    status, text, data = asyncio.run(go())
    if data is not None:
        Path(args.out).write_bytes(data)
    print(text, file=sys.stderr if status else sys.stdout)
    return status


def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    """One line per check; exit 1 when any check failed (warnings do not count)."""
    from bot import ops
    from bot.render import Renderer

    checks = asyncio.run(
        ops.doctor(settings, min_free_mb=args.min_free_mb, api_timeout=args.timeout)
    )
    renderer = Renderer(html=False)
    for check in checks:
        print(renderer.text("ops/doctor_line.j2", c=check))
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    print(renderer.text("ops/doctor_summary.j2", failed=failed, warned=warned))
    return 1 if failed else 0


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    from bot import ops
    from bot.render import Renderer

    try:
        result = ops.backup_settings(settings, Path(args.dir))
    except ops.BackupError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(Renderer(html=False).text("ops/backup.j2", r=result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Joint random inspection coordination bot (一业一查). Settings come from the"
        " environment and .env: BOT_TOKEN, BOT_API_URL, BOT_API_FILE_URL, BOT_DB, BOT_ADMINS,"
        " BOT_TZ, BOT_CONFIG.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    box = sub.add_parser(
        "sandbox", help="try the bot in a browser: Bot API emulator + bot + web page, no token"
    )
    box.add_argument("--port", type=int, default=8377, help="web page port on 127.0.0.1")
    box.add_argument("--data-dir", default="data/sandbox", help="the sandbox's database and chats")
    box.add_argument("--reset", action="store_true", help="start again from the demo data")
    box.set_defaults(func=cmd_sandbox)
    run = sub.add_parser("run", help="start the bot (long polling, or --webhook)")
    run.add_argument(
        "--webhook",
        action="store_true",
        help="receive updates through a webhook (BOT_WEBHOOK_URL, BOT_WEBHOOK_SECRET …)"
        " instead of long polling",
    )
    run.set_defaults(func=cmd_run)
    sub.add_parser("migrate", help="apply pending database migrations").set_defaults(
        func=cmd_migrate
    )
    imp = sub.add_parser(
        "import", help="import a directory or the annual plan from an .xlsx or .csv file"
    )
    imp.add_argument("kind", help="departments | inspectors | objects | items | plan")
    imp.add_argument("file", help="path of the .xlsx or .csv file")
    imp.add_argument("--dry-run", action="store_true", help="check the file, change nothing")
    imp.set_defaults(func=cmd_import)
    tpl = sub.add_parser("template", help="write an empty .xlsx template for a directory")
    tpl.add_argument("kind", help="departments | inspectors | objects | items")
    tpl.add_argument("out", help="output .xlsx path")
    tpl.set_defaults(func=cmd_template)
    ver = sub.add_parser(
        "verify-draw",
        help="re-run a task's recorded draw, replay its later changes and compare with the rows"
        " people act on; exit 0 if identical",
    )
    ver.add_argument("task", type=int, nargs="?", help="task number (from the database)")
    ver.add_argument("--file", help="an exported draw (export-draw, /verify <task> 文件) instead")
    ver.set_defaults(func=cmd_verify_draw)
    exp = sub.add_parser(
        "export-draw", help="write a task's draw (inputs, result, change chain, rows) as JSON"
    )
    exp.add_argument("task", type=int, help="task number")
    exp.add_argument("--out", help="output path (default draw-<task>.json)")
    exp.set_defaults(func=cmd_export_draw)
    inv = sub.add_parser(
        "invites",
        help="one invitation link per unregistered directory inspector, as .xlsx (links, QR codes)",
    )
    inv.add_argument("who", choices=["inspectors"], help="inspectors")
    inv.add_argument("department", help="department code, or all")
    inv.add_argument("--out", required=True, help="output .xlsx path")
    inv.add_argument("--bot-username", required=True, help="the bot's @username (for the links)")
    inv.add_argument(
        "--reissue", action="store_true", help="replace links issued earlier and not yet used"
    )
    inv.add_argument(
        "--by", type=int, default=None, help="Telegram id of the inviter (default: first admin)"
    )
    inv.set_defaults(func=cmd_invites)
    doc = sub.add_parser(
        "doctor",
        help="check token, Bot API (getMe), database, fonts, working-day calendar, disk space",
    )
    doc.add_argument(
        "--min-free-mb", type=int, default=200, help="fail below this much free disk space"
    )
    doc.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for getMe")
    doc.set_defaults(func=cmd_doctor)
    bak = sub.add_parser(
        "backup", help="copy the database into DIR with SQLite's online backup (bot may run)"
    )
    bak.add_argument("dir", help="folder for bot-YYYYMMDD-HHMMSS.sqlite3")
    bak.set_defaults(func=cmd_backup)
    return parser


NEEDS_DATABASE = frozenset(
    {"run", "sandbox", "migrate", "import", "verify-draw", "export-draw", "invites"}
)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        setup_logging(settings, args.log_level)
        if args.command == "run":
            settings.require_token()
            if args.webhook:
                settings.webhook.require()
        if args.command in NEEDS_DATABASE:
            require_migrations()
        result: int = args.func(settings, args)
        return result
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except MigrationError as exc:
        print(f"database error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
