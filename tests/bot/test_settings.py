"""bot/settings.py: defaults, one error naming each bad variable, secrets kept out of reprs."""

from __future__ import annotations

import pytest

from bot import settings
from bot.settings import ENV_NAMES, Settings, SettingsError

SECRET = "s" * 40


def test_defaults_without_any_variable() -> None:
    s = Settings.from_env({})
    assert s.redis_url == settings.DEFAULT_REDIS_URL
    assert s.timezone == settings.DEFAULT_TIMEZONE
    assert (s.desk_port, s.rasa_port, s.actions_port) == (8000, 5005, 5055)
    assert s.sla_check_interval_s == 15.0
    assert s.policy_dir == settings.PROJECT_ROOT / "content" / "policy"
    assert s.trusted_proxies == () and s.api_token is None
    assert s.cors == ["http://localhost:8000", "http://127.0.0.1:8000"]
    assert not s.is_set("redis_url")


def test_values_are_parsed_and_empty_counts_as_unset() -> None:
    s = Settings.from_env(
        {
            "DESK_PORT": "8100",
            "KEFU_SLA_CHECK_INTERVAL_S": "2.5",
            "KEFU_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1",
            "DESK_COOKIE_SECURE": "TRUE",
            "KEFU_TIMEZONE": "America/New_York",
            "REDIS_URL": "",
            "SMS_PUBLIC_URL": "https://kefu.example.com/",
        }
    )
    assert s.desk_port == 8100 and s.sla_check_interval_s == 2.5
    assert s.trusted_proxies == ("10.0.0.0/8", "192.168.1.1")
    assert s.cookie_secure == "true" and s.timezone == "America/New_York"
    assert not s.is_set("redis_url") and s.sms_public_url == "https://kefu.example.com"


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("KEFU_SLA_CHECK_INTERVAL_S", "abc", 'must be a number of seconds > 0, got "abc"'),
        ("KEFU_SLA_CHECK_INTERVAL_S", "0", "> 0"),
        ("DESK_PORT", "70000", "port number from 1 to 65535"),
        ("RASA_PORT", "①", "port number"),
        ("REDIS_URL", "localhost:6379", "redis://"),
        ("RASA_URL", "127.0.0.1:5005", "http://"),
        ("KEFU_TIMEZONE", "Mars/Base", "time zone"),
        ("DESK_COOKIE_SECURE", "maybe", "one of auto"),
        ("KEFU_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local", "'proxy.local' is neither"),
        ("KEFU_CORS_ORIGINS", "*", "not '*'"),
        ("KEFU_PHONE_REGION", "XX", "region code"),
        ("SMS_QUIET_HOURS", "9pm-8am", "HH:MM-HH:MM"),
        ("SMS_MAX_ATTEMPTS", "0", ">= 1"),
        ("KEFU_TRACKER_RETENTION_S", "30d", "seconds"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    message = str(caught.value)
    assert message.startswith(f"{variable}: ") and says in message


def test_every_bad_variable_is_named_in_one_error() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"DESK_PORT": "x", "KEFU_TIMEZONE": "Nowhere"})
    assert "DESK_PORT:" in str(caught.value) and "KEFU_TIMEZONE:" in str(caught.value)


def test_secrets_stay_out_of_reprs_and_errors() -> None:
    s = Settings.from_env({"DESK_API_TOKEN": SECRET, "RASA_TOKEN": SECRET})
    assert SECRET not in repr(s) and SECRET not in str(s)
    assert s.secret("api_token") == SECRET
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"RASA_TOKEN": "short-secret-value"})
    assert "short-secret-value" not in str(caught.value) and "RASA_TOKEN" in str(caught.value)


def test_require_names_the_missing_variable() -> None:
    with pytest.raises(SettingsError, match="^KEFU_ACTION_TOKEN: must be set"):
        Settings.from_env({}).require("action_token")


def test_get_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_TIMEZONE", "Europe/Paris")
    assert settings.get().timezone == "Europe/Paris"
    assert settings.get() is settings.get()  # cached while nothing changes
    monkeypatch.setenv("KEFU_TIMEZONE", "Asia/Tokyo")
    assert settings.get().timezone == "Asia/Tokyo"


def test_every_field_names_a_variable_and_a_meaning() -> None:
    assert len(set(ENV_NAMES.values())) == len(ENV_NAMES)
    for name, field in Settings.__fields__.items():
        assert field.field_info.description, name
        assert field.field_info.extra["group"], name
    table = settings.markdown()
    assert all(f"| `{var}` |" in table for var in ENV_NAMES.values())
