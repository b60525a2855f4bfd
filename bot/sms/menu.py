"""The menu a new number gets with its first answer (content/sms/menu.yml).

Open with help, not a blank box: a customer who texts for the first time learns by the
second SMS what else they can do, as numbered choices they answer with a digit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import redis.asyncio as aioredis

from bot.language import DEFAULT, detect_language
from bot.sms.keywords import DATA_DIR, load_yaml


@dataclass(frozen=True)
class Menu:
    texts: dict[str, str]  # language -> the menu SMS
    choices: list[str]  # payloads, in the order of the digits
    remember_s: int

    def text_for(self, customer_text: str) -> str:
        return self.texts[detect_language(customer_text) or DEFAULT]


@lru_cache(maxsize=2)
def load_menu(path: Path = DATA_DIR / "menu.yml") -> Menu:
    data = load_yaml(path)
    choices = data.get("choices")
    if not isinstance(choices, list) or not all(str(c).startswith("/") for c in choices):
        raise ValueError(f"{path}: 'choices' must be a list of /intent payloads")
    texts = {lang: data.get(lang) for lang in ("zh", "en")}
    if not all(isinstance(t, str) and t.strip() for t in texts.values()):
        raise ValueError(f"{path}: a menu text for 'zh' and 'en' is required")
    return Menu(
        texts={k: str(v) for k, v in texts.items()},
        choices=[str(c) for c in choices],
        remember_s=int(data.get("remember_days", 365)) * 24 * 3600,
    )


def known_key(phone: str) -> str:
    return f"kefu:sms:known:{phone}"


async def is_first_contact(redis: aioredis.Redis, phone: str, sid: str, remember_s: int) -> bool:
    """True for the first message of a number not seen within `remember_s`. The key holds
    that message's sid, so the same message run again (crash recovery) is still first."""
    key = known_key(phone)
    if await redis.set(key, sid, nx=True, ex=remember_s):
        return True
    first = await redis.get(key)
    await redis.expire(key, remember_s)
    return bool(first == sid)
