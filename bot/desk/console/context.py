"""Everything the console's handlers share, built once per desk process."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from bot.desk.auth import TrustedProxies
from bot.desk.console.sessions import LoginThrottle, Session, SessionStore
from bot.desk.users import User, UserStore
from bot.handoff.agent_ops import AgentOps, Staff
from bot.handoff.policy import HandoffConfig
from bot.handoff.presence import Presence
from bot.handoff.rasa_client import RasaClient
from bot.handoff.store import HandoffStore
from bot.settings import Settings
from bot.tickets.roster import Roster

CONVERSATION_ID = re.compile(r"^[A-Za-z0-9:+._@-]{1,128}$")


@dataclass
class Console:
    settings: Settings
    redis: aioredis.Redis
    config: HandoffConfig
    roster: Roster
    store: HandoffStore
    presence: Presence
    users: UserStore
    sessions: SessionStore
    throttle: LoginThrottle
    http: aiohttp.ClientSession
    rasa: RasaClient
    ops: AgentOps
    proxies: TrustedProxies = field(default_factory=TrustedProxies)
    hub: object = field(default=None)  # live.LiveHub (set when the workers start)
    sync: object = field(default=None)  # bot.handoff.sync.HandoffSync (likewise)

    def name_for(self, staff: Staff, language: str) -> str:
        """The name customers see: the roster's, in their language, else the user's own."""
        return self.roster.display_name(staff.username, language) or staff.display_name


CONSOLE = web.AppKey("console", Console)
SESSION = "kefu.session"
USER = "kefu.user"


def current_user(request: web.Request) -> User:
    user: User = request[USER]
    return user


def current_session(request: web.Request) -> Session:
    session: Session = request[SESSION]
    return session


def valid_conversation_id(value: str) -> bool:
    return bool(CONVERSATION_ID.fullmatch(value or ""))
