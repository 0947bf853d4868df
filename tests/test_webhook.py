"""`python -m bot run --webhook`: the real Application in webhook mode against the fake Bot API.

The fake posts each update to the webhook with X-Telegram-Bot-Api-Secret-Token, as Telegram
does; PTB's webhook server refuses a request without the right secret (403). Polling again
afterwards deletes the webhook.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from bot.config import ConfigError, InstanceSettings, Settings, WebhookSettings, load_settings
from tests.fakeapi import FakeBotApi
from tests.instances_support import serving
from tests.outbox_support import ADMIN_ID, open_chat, settings_for, until

SECRET = "s3cr3t-Token_17"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webhook_settings(api: FakeBotApi, db: Path, port: int) -> Settings:
    base = settings_for(api, db)
    return replace(
        base,
        webhook=WebhookSettings(
            url=f"http://127.0.0.1:{port}/hook",  # the fake stands in for the reverse proxy
            secret=SECRET,
            listen="127.0.0.1",
            port=port,
            path="hook",
        ),
        instance=InstanceSettings(id="w1", leader_seconds=3.0),
    )


def help_update(update_id: int) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 9000 + update_id,
            "date": 1_790_000_000,
            "chat": {"id": ADMIN_ID, "type": "private", "first_name": "管理员"},
            "from": {"id": ADMIN_ID, "is_bot": False, "first_name": "管理员"},
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }


async def test_webhook_round_trip_secret_checked_and_polling_removes_it(
    api: FakeBotApi, tmp_path: Path
) -> None:
    open_chat(api, ADMIN_ID, "县局管理员")
    port = free_port()
    settings = webhook_settings(api, tmp_path / "bot.sqlite3", port)
    async with serving(settings, webhook=True):
        info = api.calls("setWebhook")[-1].params
        assert info["url"] == settings.webhook.url
        assert info["secret_token"] == SECRET
        assert api.world.webhook_url == settings.webhook.url

        # A command round trip through the webhook.
        api.send_text(ADMIN_ID, "/help")
        messages = await api.wait_for_messages(ADMIN_ID, 1)
        assert "/broadcast" in messages[-1].text  # the administrator's /help
        assert any(status == 200 for _, status in api.webhook_deliveries)
        assert not api.calls("getUpdates")  # nobody polls while the webhook is set

        # Telegram itself refuses getUpdates while a webhook is set.
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{api.base_url}{api.token}/getUpdates") as refused,
        ):
            assert refused.status == 409
            assert "webhook is active" in (await refused.json())["description"]

        # Anyone else posting to the webhook: no secret, or a wrong one, is refused with 403
        # and changes nothing.
        before = api.sent_total(ADMIN_ID)
        body = json.dumps(help_update(900_001))
        async with aiohttp.ClientSession() as session:
            for headers in (
                {},
                {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                {"X-Telegram-Bot-Api-Secret-Token": SECRET[:-1]},
            ):
                async with session.post(
                    settings.webhook.url,
                    data=body,
                    headers={"Content-Type": "application/json", **headers},
                ) as response:
                    assert response.status == 403
            # The right secret is accepted: the check is the secret, not the sender.
            async with session.post(
                settings.webhook.url,
                data=json.dumps(help_update(900_002)),
                headers={
                    "Content-Type": "application/json",
                    "X-Telegram-Bot-Api-Secret-Token": SECRET,
                },
            ) as response:
                assert response.status == 200
        await api.wait_for_messages(ADMIN_ID, before + 1)
        await asyncio.sleep(0.3)
        assert api.sent_total(ADMIN_ID) == before + 1  # the refused ones were never handled

    # After a clean stop the webhook stays set (Telegram keeps the updates for the next start)…
    assert api.world.webhook_url == settings.webhook.url
    # …and switching back to polling removes it.
    async with serving(settings, webhook=False):
        await until(lambda: api.world.webhook_url == "")
        assert api.calls("deleteWebhook")
        before = api.sent_total(ADMIN_ID)
        api.send_text(ADMIN_ID, "/help")
        await api.wait_for_messages(ADMIN_ID, before + 1)
        assert api.calls("getUpdates")
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{api.base_url}{api.token}/getWebhookInfo") as answer,
    ):
        assert (await answer.json())["result"]["url"] == ""


async def test_updates_wait_at_telegram_while_the_webhook_is_down(
    api: FakeBotApi, tmp_path: Path
) -> None:
    """The bot stopped (a restart): Telegram keeps posting and failing, then delivers on start."""
    open_chat(api, ADMIN_ID, "县局管理员")
    port = free_port()
    settings = webhook_settings(api, tmp_path / "bot.sqlite3", port)
    async with serving(settings, webhook=True):
        pass
    api.send_text(ADMIN_ID, "/help")
    await until(lambda: any(status == 0 for _, status in api.webhook_deliveries))
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{api.base_url}{api.token}/getWebhookInfo") as answer,
    ):
        info = (await answer.json())["result"]
    assert info["pending_update_count"] == 1
    assert info["last_error_message"].startswith("Connection failed")
    async with serving(settings, webhook=True):
        await api.wait_for_messages(ADMIN_ID, 1)


def test_webhook_settings_from_environment_and_toml(tmp_path: Path) -> None:
    toml = tmp_path / "bot.toml"
    toml.write_text(
        '[webhook]\nurl = "https://bot.example.gov.cn/tg"\nport = 9000\npath = "/tg/"\n'
        '[instances]\nid = "node-a"\nleader_lease_seconds = 20\nclaim_seconds = 90\n',
        encoding="utf-8",
    )
    env = {"BOT_CONFIG": str(toml), "BOT_WEBHOOK_SECRET": SECRET, "BOT_WEBHOOK_LISTEN": "0.0.0.0"}
    settings = load_settings(env, cwd=tmp_path)
    assert settings.webhook == WebhookSettings(
        url="https://bot.example.gov.cn/tg", secret=SECRET, listen="0.0.0.0", port=9000, path="tg"
    )
    assert settings.webhook.require() is settings.webhook
    assert settings.instance == InstanceSettings(id="node-a", leader_seconds=20, claim_seconds=90)
    env["BOT_INSTANCE"] = "node-b"
    env["BOT_WEBHOOK_PORT"] = "8444"
    settings = load_settings(env, cwd=tmp_path)
    assert settings.instance.id == "node-b" and settings.webhook.port == 8444

    with pytest.raises(ConfigError, match="BOT_WEBHOOK_SECRET"):
        replace(settings.webhook, secret="").require()
    with pytest.raises(ConfigError, match="https"):
        replace(settings.webhook, url="http://bot.example.gov.cn/tg").require()
    with pytest.raises(ConfigError, match="BOT_WEBHOOK_URL"):
        WebhookSettings(secret=SECRET).require()
    with pytest.raises(ConfigError, match="port"):
        load_settings({**env, "BOT_WEBHOOK_PORT": "99999"}, cwd=tmp_path)
    toml.write_text("[instances]\nclaim_seconds = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="claim_seconds"):
        load_settings({"BOT_CONFIG": str(toml)}, cwd=tmp_path)


def test_run_webhook_without_its_settings_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.__main__ import main
    from tests.outbox_support import TOKEN

    monkeypatch.chdir(tmp_path)
    for name in ("BOT_CONFIG", "BOT_WEBHOOK_URL", "BOT_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("BOT_DB", str(tmp_path / "bot.sqlite3"))
    assert main(["run", "--webhook"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "BOT_WEBHOOK_URL" in err
    monkeypatch.setenv("BOT_WEBHOOK_URL", "https://bot.example.gov.cn/telegram")
    assert main(["run", "--webhook"]) == 2
    assert "BOT_WEBHOOK_SECRET" in capsys.readouterr().err
    assert not (tmp_path / "bot.sqlite3").exists()  # refused before anything started
