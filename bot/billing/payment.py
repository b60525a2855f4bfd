"""How to pay (pay_bill): the payment channels and the company's pay link, from
content/billing/payment.yml, as data and as zh/en text."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

PAYMENT_FILE = Path(__file__).resolve().parents[2] / "content" / "billing" / "payment.yml"


@dataclass(frozen=True)
class PaymentInfo:
    channels: tuple[str, ...]
    link: str
    text: str  # channels, link and (when known) the account number, ready to send


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return data


def payment_info(language: str, account_id: str | None = None) -> PaymentInfo:
    """The ways to pay in `language` (zh, else en); with `account_id`, a link that opens on
    that account and the account number to quote."""
    data = _load(PAYMENT_FILE)
    texts = data["zh" if language.startswith("zh") else "en"]
    channels = tuple(str(c) for c in texts["channels"])
    link = (
        str(data["link"]).format(account=quote(account_id, safe=""))
        if account_id
        else str(data["link_without_account"])
    )
    body = str(texts["text"]).format(
        channels="\n".join(f"{i}. {c}" for i, c in enumerate(channels, 1)), link=link
    )
    if account_id:
        body = str(texts["account_line"]).format(account=account_id) + "\n" + body
    return PaymentInfo(channels, link, body)
