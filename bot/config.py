"""Settings from environment variables, with defaults that work on one machine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    redis_url: str
    desk_host: str
    desk_port: int
    # Where browsers reach Rasa's socket.io endpoint (may differ behind a proxy).
    rasa_public_url: str
    # Bearer token for the desk's HTTP APIs; with none set every API call is refused.
    api_token: str | None = None
    # Tickets: company time zone (ticket numbers carry the local date), the YAML policies
    # (grading, SLA, roster) and how often the SLA monitor looks for missed deadlines.
    timezone: str = "Asia/Shanghai"
    policy_dir: str = str(PROJECT_ROOT / "content" / "policy")
    sla_check_interval_s: float = 15.0
    # Agent console and handoff: Rasa's HTTP API as the desk reaches it (rasa run
    # --enable-api --auth-token $RASA_TOKEN), and the session cookie's Secure flag
    # ("auto": Secure when the request came over https, directly or per X-Forwarded-Proto
    # from a trusted proxy).
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str | None = None
    cookie_secure: str = "auto"
    # Reverse proxies (IPs or CIDRs) whose X-Forwarded-For / X-Forwarded-Proto the desk
    # believes; from anyone else those headers are ignored (a client could forge them).
    trusted_proxies: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            redis_url=os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
            desk_host=os.environ.get("DESK_HOST", "127.0.0.1"),
            desk_port=int(os.environ.get("DESK_PORT", "8000")),
            rasa_public_url=os.environ.get("RASA_PUBLIC_URL", "http://localhost:5005"),
            api_token=os.environ.get("DESK_API_TOKEN") or None,
            timezone=os.environ.get("KEFU_TIMEZONE", "Asia/Shanghai"),
            policy_dir=os.environ.get("KEFU_POLICY_DIR", str(PROJECT_ROOT / "content" / "policy")),
            sla_check_interval_s=float(os.environ.get("KEFU_SLA_CHECK_INTERVAL_S", "15")),
            rasa_url=os.environ.get("RASA_URL", "http://127.0.0.1:5005"),
            rasa_token=os.environ.get("RASA_TOKEN") or None,
            cookie_secure=os.environ.get("DESK_COOKIE_SECURE", "auto").lower(),
            trusted_proxies=tuple(
                p.strip()
                for p in os.environ.get("KEFU_TRUSTED_PROXIES", "").split(",")
                if p.strip()
            ),
        )
