"""Web session tokens: only the server's own, unexpired, untampered tokens name a conversation."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.identity import tokens
from bot.identity.tokens import (
    MAX_TOKEN_CHARS,
    Signer,
    TokenConfigError,
    is_web_id,
    new_web_id,
)

SECRET = "s" * 32
OTHER = "o" * 32


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def signer(
    clock: Clock | None = None, ttl_s: int = 3600, keys: tuple[str, ...] = (SECRET,)
) -> Signer:
    return Signer(tuple(k.encode() for k in keys), ttl_s, clock or Clock())


def test_round_trip_and_fresh_ids() -> None:
    conversation = new_web_id()
    assert is_web_id(conversation) and conversation != new_web_id()
    token = signer().mint(conversation)
    assert len(token) <= MAX_TOKEN_CHARS
    assert signer().verify(token) == conversation


def test_expires_after_its_lifetime_and_after_a_shorter_setting() -> None:
    clock = Clock()
    token = signer(clock).mint(new_web_id())
    clock.now += 3599
    assert signer(clock).verify(token) is not None
    clock.now += 1
    assert signer(clock).verify(token) is None
    # Lowering the lifetime also shortens tokens already handed out.
    clock.now -= 3000
    assert signer(clock, ttl_s=60).verify(token) is None


def test_issued_in_the_future_is_refused() -> None:
    clock = Clock()
    token = signer(Clock(clock.now + 3600)).mint(new_web_id())
    assert signer(clock, ttl_s=7200).verify(token) is None


def test_forged_and_tampered_tokens_are_refused() -> None:
    conversation = new_web_id()
    token = signer().mint(conversation)
    version, payload, signature = token.split(".")
    assert signer(keys=(OTHER,)).verify(token) is None  # another secret
    other_payload = (
        base64.urlsafe_b64encode(
            base64.urlsafe_b64decode(payload + "==").replace(
                conversation.encode(), new_web_id().encode()
            )
        )
        .rstrip(b"=")
        .decode()
    )
    assert signer().verify(f"{version}.{other_payload}.{signature}") is None
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    assert signer().verify(f"{version}.{payload}.{flipped}") is None
    assert signer().verify(f"v2.{payload}.{signature}") is None
    assert signer().verify(token + ".x") is None


def test_rotation_keeps_old_tokens_valid_until_the_previous_secret_goes() -> None:
    old = signer(keys=(OTHER,)).mint(conversation := new_web_id())
    assert signer(keys=(SECRET, OTHER)).verify(old) == conversation
    assert signer(keys=(SECRET,)).verify(old) is None


def test_only_web_ids_get_tokens() -> None:
    for foreign in ("sms:+8613800138000", "web:ABC", "abcdef123456", ""):
        with pytest.raises(ValueError):
            signer().mint(foreign)


@given(st.one_of(st.text(max_size=400), st.binary().map(repr), st.integers(), st.none()))
def test_arbitrary_input_is_never_a_conversation(token: object) -> None:
    assert signer().verify(token) is None


def test_configuration_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tokens.SECRET_ENV, raising=False)
    with pytest.raises(TokenConfigError, match=tokens.SECRET_ENV):
        Signer.from_env()
    monkeypatch.setenv(tokens.SECRET_ENV, "short")
    with pytest.raises(TokenConfigError, match="at least 32 characters"):
        Signer.from_env()
    monkeypatch.setenv(tokens.SECRET_ENV, SECRET)
    monkeypatch.setenv(tokens.TTL_ENV, "①")
    with pytest.raises(TokenConfigError, match=tokens.TTL_ENV):
        Signer.from_env()
    monkeypatch.setenv(tokens.TTL_ENV, "120")
    assert Signer.from_env().ttl_s == 120
    monkeypatch.delenv(tokens.TTL_ENV)
    assert Signer.from_env().ttl_s == tokens.DEFAULT_TTL_S
    conversation = new_web_id()
    assert tokens.verify(tokens.mint(conversation)) == conversation
