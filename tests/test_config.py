from pathlib import Path

import pytest

from bot.config import ConfigError, derive_file_url, load_settings

TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({}, cwd=tmp_path)
    assert settings.api_url == "https://api.telegram.org/bot"
    assert settings.file_url == "https://api.telegram.org/file/bot"
    assert settings.db_path == Path("data/bot.sqlite3")
    assert settings.admins == frozenset()
    assert settings.tz.key == "Asia/Shanghai"
    assert settings.tunables.invite_ttl_days == 7


def test_env_overrides_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# comment\nBOT_TOKEN='from-dotenv'\nexport BOT_ADMINS=1, 2\nBOT_API_URL=http://x/bot\n",
        encoding="utf-8",
    )
    settings = load_settings({"BOT_TOKEN": TOKEN}, cwd=tmp_path)
    assert settings.token == TOKEN
    assert settings.admins == frozenset({1, 2})
    assert settings.api_url == "http://x/bot"
    assert settings.file_url == "http://x/file/bot"


def test_token_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BOT_TOKEN is not set"):
        load_settings({}, cwd=tmp_path).require_token()
    with pytest.raises(ConfigError, match="malformed") as info:
        load_settings({"BOT_TOKEN": "nope"}, cwd=tmp_path).require_token()
    assert "\n" not in str(info.value)
    assert load_settings({"BOT_TOKEN": TOKEN}, cwd=tmp_path).require_token() == TOKEN


def test_bad_admins_and_tz(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BOT_ADMINS"):
        load_settings({"BOT_ADMINS": "12,abc"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="BOT_TZ"):
        load_settings({"BOT_TZ": "Mars/Base"}, cwd=tmp_path)


def test_toml_tunables(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        "[onboarding]\ninvite_ttl_days = 3\n[imports]\nmax_file_mb = 5\n", encoding="utf-8"
    )
    settings = load_settings({"BOT_CONFIG": str(path)}, cwd=tmp_path)
    assert settings.tunables.invite_ttl_days == 3
    assert settings.tunables.max_import_mb == 5
    path.write_text("[onboarding]\ninvite_ttl_days = -1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invite_ttl_days"):
        load_settings({"BOT_CONFIG": str(path)}, cwd=tmp_path)
    path.write_text("[onboarding\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="TOML"):
        load_settings({"BOT_CONFIG": str(path)}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        load_settings({"BOT_CONFIG": str(tmp_path / "missing.toml")}, cwd=tmp_path)


def test_derive_file_url() -> None:
    assert derive_file_url("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"
    assert derive_file_url("http://host/bot/") == "http://host/file/bot"
