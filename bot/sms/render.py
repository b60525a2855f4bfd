"""Bot messages -> SMS text: buttons become a numbered list the customer answers by number."""

from __future__ import annotations

import re
from typing import Any

_HAN = re.compile(r"[\u4e00-\u9fff]")


def render(
    message: dict[str, Any], texts: dict[str, str], first_number: int = 1
) -> tuple[str, list[str]]:
    """(SMS text, button payloads in number order) for one Rasa bot message."""
    lines: list[str] = []
    text = message.get("text")
    if isinstance(text, str) and text.strip():
        lines.append(text.strip())
    payloads: list[str] = []
    buttons = message.get("buttons") or message.get("quick_replies") or []
    if isinstance(buttons, list):
        for button in buttons:
            if not isinstance(button, dict):
                continue
            title = str(button.get("title") or button.get("payload") or "").strip()
            payload = str(button.get("payload") or title)
            if not title:
                continue
            payloads.append(payload)
            lines.append(f"{first_number + len(payloads) - 1}. {title}")
    if payloads:
        lines.append(texts["choose_zh"] if _HAN.search(" ".join(lines)) else texts["choose_en"])
    for element in message.get("elements") or []:
        if isinstance(element, dict):
            lines.append(
                " - ".join(str(element.get(k)) for k in ("title", "subtitle") if element.get(k))
            )
    for key in ("image", "attachment"):
        value = message.get(key)
        if isinstance(value, str) and value:
            lines.append(value)
    custom = message.get("custom")
    # Custom JSON is for rich channels; a response may carry an explicit SMS text in it.
    if isinstance(custom, dict) and isinstance(custom.get("sms"), str):
        lines.append(custom["sms"])
    return "\n".join(line for line in lines if line), payloads
