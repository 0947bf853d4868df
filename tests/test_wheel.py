"""The wheel, installed into a fresh virtual environment and run outside the repository, finds
its templates and migrations inside the package: it migrates, starts against the fake Bot API
and answers /start; without its migrations it refuses to start with one line.

The wheel is built from a copy of the sources (`pip wheel --no-deps --no-build-isolation`, no
network); the fresh venv gets only the wheel, and sees the dependencies already installed here
through a .pth line, after its own site-packages, so `bot` can only come from the wheel.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from bot.db import discover_migrations
from tests.conftest import TOKEN
from tests.fakeapi import FakeBotApi
from tests.pg_support import sqlite_only

pytestmark = sqlite_only("builds and runs the wheel in subprocesses on SQLite files")

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "bot", "templates", "migrations")


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{command}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; returns its python."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = work / "dist"
    run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--disable-pip-version-check", "-w", dist, source, cwd=work,
    )  # fmt: skip
    [wheel] = dist.glob("joint_inspection_bot-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "bot/migrations/0001_init.sql" in names and "bot/templates/zh/help.j2" in names
    # PostgreSQL's replacement of a migration (bot.pgdb.migration_sql) ships as well.
    assert "bot/migrations/postgresql/0012_task_flows_never_reuse_ids.sql" in names
    assert "bot/sandbox/static/index.html" in names

    venv = work / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work)
    python = venv / "bin" / "python"
    purelib = Path(
        run(
            python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=work
        ).strip()
    )
    # The dependencies already installed here, after the venv's own packages.
    here = [sysconfig.get_path("purelib"), *site.getsitepackages()]
    (purelib / "zz_test_dependencies.pth").write_text(
        "\n".join(dict.fromkeys(p for p in here if p)) + "\n", encoding="utf-8"
    )
    run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps",
        "--no-index", "--disable-pip-version-check", wheel, cwd=work,
    )  # fmt: skip
    return python


def clean_env(**values: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(values)
    return env


def test_the_wheel_holds_the_package_data_and_uses_it(installed: Path, tmp_path: Path) -> None:
    where = run(
        installed,
        "-c",
        "import bot, bot.db, bot.render; print(bot.__file__); print(bot.db.MIGRATIONS_DIR);"
        " print(bot.render.TEMPLATES_DIR)",
        cwd=tmp_path,
        env=clean_env(),
    ).split()
    venv = installed.parent.parent
    assert all(Path(p).is_relative_to(venv) for p in where), where  # nothing from the checkout
    assert Path(where[1]).name == "migrations" and Path(where[2]).name == "templates"


async def test_the_installed_bot_migrates_and_answers_start(
    installed: Path, api: FakeBotApi, tmp_path: Path
) -> None:
    db = tmp_path / "data" / "bot.sqlite3"
    env = clean_env(BOT_TOKEN=TOKEN, BOT_API_URL=api.base_url, BOT_DB=str(db), BOT_ADMINS="1001")
    migrated = await asyncio.to_thread(
        run, installed, "-m", "bot", "migrate", cwd=tmp_path, env=env
    )
    expected = discover_migrations()
    assert f"applied {len(expected)} migration(s): {expected[0].name}" in migrated
    assert db.is_file()
    process = await asyncio.create_subprocess_exec(
        installed, "-m", "bot", "run", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        api.add_user(2001, "新用户")
        await api.wait_for(lambda: any(r.method == "getUpdates" for r in api.requests), timeout=30)
        api.send_text(2001, "/start")
        [greeting] = await api.wait_for_messages(2001, 1, timeout=15)
        assert "还没有注册" in greeting.text  # rendered from the packaged templates
    finally:
        process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 0 or process.returncode < 0, output.decode(errors="replace")


def test_without_migrations_it_refuses_to_start_in_one_line(
    installed: Path, tmp_path: Path
) -> None:
    purelib = installed.parent.parent / "lib"
    [migrations] = purelib.glob("python3*/site-packages/bot/migrations")
    hidden = migrations.with_name("migrations.hidden")
    migrations.rename(hidden)
    try:
        env = clean_env(BOT_TOKEN=TOKEN, BOT_DB=str(tmp_path / "b.sqlite3"))
        for command in ("migrate", "run"):
            done = subprocess.run(
                [str(installed), "-m", "bot", command],
                cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=60,
            )  # fmt: skip
            assert done.returncode == 2, done
            assert done.stdout == ""
            [line] = done.stderr.splitlines()
            assert line.startswith("database error: no database migrations found in ")
            assert "installation is incomplete" in line
        assert not (tmp_path / "b.sqlite3").exists()
    finally:
        hidden.rename(migrations)


def test_the_cli_checks_for_migrations_before_touching_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot import __main__ as cli
    from bot import db

    root = logging.getLogger()  # main() sets up logging: keep pytest's handlers afterwards
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    empty = tmp_path / "migrations"
    empty.mkdir()
    monkeypatch.setattr(db, "MIGRATIONS_DIR", empty)
    monkeypatch.setenv("BOT_DB", str(tmp_path / "b.sqlite3"))
    assert cli.main(["migrate"]) == 2
    assert capsys.readouterr().err == (
        f"database error: no database migrations found in {empty}: the installation is"
        " incomplete (reinstall the package)\n"
    )
    assert not (tmp_path / "b.sqlite3").exists()
    assert cli.main(["template", "objects", str(tmp_path / "t.xlsx")]) == 0  # needs no database
