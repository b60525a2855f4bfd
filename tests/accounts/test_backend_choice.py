"""bot.accounts.backend_for / get_backend: the backend the settings name."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.accounts import backend_for, get_backend
from bot.accounts.demo import DEMO_FILE, DemoBackend
from bot.accounts.http import HttpBackend
from bot.settings import Settings, SettingsError


def test_demo_by_default() -> None:
    settings = Settings.from_env({})
    assert settings.accounts_backend == "demo"
    assert settings.accounts_file == DEMO_FILE
    assert isinstance(backend_for(settings), DemoBackend)
    assert get_backend() is get_backend()  # one per process


async def test_http_with_its_url() -> None:
    settings = Settings.from_env(
        {
            "KEFU_ACCOUNTS_BACKEND": "http",
            "KEFU_ACCOUNTS_URL": "https://accounts.example.com/v1/",
            "KEFU_ACCOUNTS_TIMEOUT_S": "1.5",
            "KEFU_ACCOUNTS_RETRIES": "0",
        }
    )
    backend = backend_for(settings)
    assert isinstance(backend, HttpBackend)
    await backend.close()


def test_http_without_a_url_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="KEFU_ACCOUNTS_URL"):
        backend_for(Settings.from_env({"KEFU_ACCOUNTS_BACKEND": "http"}))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KEFU_ACCOUNTS_BACKEND", "ldap"),
        ("KEFU_ACCOUNTS_URL", "ftp://x"),
        ("KEFU_ACCOUNTS_TIMEOUT_S", "0"),
        ("KEFU_ACCOUNTS_RETRIES", "9"),
    ],
)
def test_bad_values_are_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


async def test_another_demo_file(tmp_path: Path) -> None:
    other = tmp_path / "few.json"
    other.write_text(
        '{"due_after_days": 10, "accounts": [{"id": "X1", "phone": "+8613800099999", '
        '"name": "n", "address": "a", "area": "tongzhou", "tariff": "residential_tiered", '
        '"language": "zh", "autopay": true, "pay_lag_days": 0, '
        '"years": [[[100, 60, 40, "48.83"]], [[100, 60, 40, "48.83"]]]}]}',
        encoding="utf-8",
    )
    backend = backend_for(Settings.from_env({"KEFU_ACCOUNTS_FILE": str(other)}))
    assert isinstance(backend, DemoBackend)
    (account,) = await backend.accounts_for_phone("+8613800099999")
    assert account.id == "X1" and account.area == "tongzhou"
    assert await backend.accounts_for_phone("+8613800000001") == []
