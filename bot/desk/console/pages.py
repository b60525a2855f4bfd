"""Server-rendered console pages: login, queue, conversation, supervisor; logout.

Pages render what Redis knows; console.js then keeps them live over the websocket and
renders everything customer-typed with textContent.
"""

from __future__ import annotations

import secrets
import time

from aiohttp import web

from bot.desk.console.api import holds, may_read
from bot.desk.console.context import CONSOLE, current_session, current_user, valid_conversation_id
from bot.desk.console.guard import redirect, safe_next
from bot.desk.console.render import Markup, esc, join, render
from bot.desk.console.sessions import (
    COOKIE,
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    MAX_AGE_S,
    set_cookie,
    tokens_equal,
)
from bot.desk.users import User
from bot.handoff.store import Conversation

ROLE_LABELS = {"agent": "客服 Agent", "supervisor": "主管 Supervisor"}
LOGIN_ERROR = "用户名或密码错误 Wrong user name or password"


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def layout(request: web.Request, page: str, title: str, content: Markup) -> web.Response:
    user = current_user(request)
    nav = Markup("")
    if user.role == "supervisor":
        nav = Markup(
            '<a href="/console/supervisor">主管视图 Supervisor</a>'
            '<a href="/console/outages">停电管理 Outages</a>'
            '<a href="/console/reports">满意度报表 Reports</a>'
        )
    if not request.app[CONSOLE].settings.twilio_account_sid:  # offline: bot/desk/simulator.py
        nav = Markup(nav + '<a href="/console/simulator">短信模拟 SMS simulator</a>')
    return _html(
        render(
            "layout.html",
            csrf=current_session(request).csrf,
            title=title,
            page=page,
            username=user.username,
            role=user.role,
            role_label=ROLE_LABELS.get(user.role, user.role),
            display_name=user.display_name,
            nav=nav,
            content=content,
        )
    )


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(max(seconds, 0))
    return f"{seconds // 60}:{seconds % 60:02d}"


# ---- login / logout -------------------------------------------------------------------


def _login_page(
    request: web.Request, *, error: str = "", username: str = "", status: int = 200
) -> web.Response:
    token = secrets.token_urlsafe(24)
    response = _html(
        render(
            "login.html",
            csrf=token,
            next=safe_next(request.query.get("next")),
            username=username,
            error=error,
        ),
        status,
    )
    console = request.app[CONSOLE]
    set_cookie(
        response,
        request,
        LOGIN_CSRF_COOKIE,
        token,
        console.settings.cookie_secure,
        3600,
        console.proxies,
    )
    return response


async def login_form(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    session = await console.sessions.get(request.cookies.get(COOKIE))
    user = await console.users.get(session.username) if session else None
    # Only a session the guard accepts skips the form (else the two would redirect for ever).
    if session is not None and console.sessions.valid_for(session, user):
        return redirect(safe_next(request.query.get("next")))
    return _login_page(request)


async def login(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    form = await request.post()
    username = str(form.get("username") or "").strip().lower()[:64]
    password = str(form.get("password") or "")
    if not tokens_equal(str(form.get(CSRF_FIELD) or ""), request.cookies.get(LOGIN_CSRF_COOKIE)):
        return _login_page(
            request, error="页面已过期，请重试 The form expired; try again", status=403
        )
    address = console.proxies.client_address(request)
    # Counted before argon2 runs, atomically: parallel guesses cannot all get through.
    wait = await console.throttle.reserve(username, address)
    if wait:
        response = _login_page(
            request,
            error=f"尝试次数过多，请 {wait} 秒后再试 Too many attempts; retry in {wait} s",
            username=username,
            status=429,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    user = await console.users.verify(username, password)
    if user is None:
        return _login_page(request, error=LOGIN_ERROR, username=username, status=401)
    await console.throttle.succeeded(username, address)
    session = await console.sessions.create(user)
    response = redirect(safe_next(str(form.get("next") or "")), status=303)
    set_cookie(
        response,
        request,
        COOKIE,
        session.token,
        console.settings.cookie_secure,
        MAX_AGE_S,
        console.proxies,
    )
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/console")
    return response


async def logout(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    session = current_session(request)
    await console.sessions.delete(session)
    if console.hub is not None:  # this process's websockets of the session close now
        await console.hub.end_session(session.token)  # type: ignore[attr-defined]
    user = current_user(request)
    if user.role == "agent":
        await console.presence.leave(user.username)
    response = redirect("/console/login", status=303)
    response.del_cookie(COOKIE, path="/console")
    return response


# ---- queue ----------------------------------------------------------------------------


def queue_row(index: int, conversation: Conversation, now: float) -> Markup:
    reserved = conversation.reserved_for(now)
    reason = conversation.reason + (f" · 首问 {reserved}" if reserved else "")
    return render(
        "queue_row.html",
        id=conversation.id,
        index=index,
        grade=conversation.grade,
        channel=conversation.channel,
        language=conversation.language,
        since=conversation.enqueued_at,
        waiting=duration(now - conversation.enqueued_at),
        last=conversation.last_text or "",
        reason=reason,
    )


def mine_item(conversation: Conversation) -> Markup:
    return Markup(
        f'<li><a href="/console/conversations/{esc(conversation.id)}">'
        f"{esc(conversation.id[:24])}</a> · {esc(conversation.channel)} · "
        f"{esc(conversation.last_text or '')}</li>"
    )


async def queue_page(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    user = current_user(request)
    now = time.time()
    waiting = await console.store.queue()
    active = await console.store.active()
    rows = join([queue_row(i, c, now) for i, c in enumerate(waiting, start=1)])
    mine = join([mine_item(c) for c in active if c.agent == user.username])
    content = render("queue.html", count=len(waiting), rows=rows, mine=mine)
    return layout(request, "queue", "队列 Queue", content)


# ---- conversation ---------------------------------------------------------------------


async def conversation_page(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    conversation_id = request.match_info["id"]
    conversation = (
        await console.store.get(conversation_id) if valid_conversation_id(conversation_id) else None
    )
    if conversation is None:
        raise web.HTTPNotFound(text="no such handoff conversation")
    user = current_user(request)
    if not may_read(user, conversation):
        raise web.HTTPForbidden(text="this conversation is with another agent")
    # The customer's number is for whoever acts for them (console.js fills it in on claim).
    phone = conversation.phone if holds(user, conversation) else None
    categories = join(
        [
            Markup(
                f'<option value="{esc(c)}">{esc(console.roster.category_label(c, "zh"))} '
                f"{esc(console.roster.category_label(c, 'en'))}</option>"
            )
            for c in console.roster.categories
        ]
    )
    content = render(
        "conversation.html",
        id=conversation.id,
        short_id=conversation.id[:24],
        state=conversation.state,
        agent=conversation.agent or "",
        channel=conversation.channel,
        language=conversation.language,
        grade=conversation.grade,
        reason=conversation.reason,
        phone=phone or "-",
        phone_value=phone or "",
        ticket=conversation.ticket_id or "-",
        categories=categories,
    )
    return layout(request, "conversation", "对话 Conversation", content)


# ---- supervisor -----------------------------------------------------------------------


def require_supervisor(user: User) -> None:
    if user.role != "supervisor":
        raise web.HTTPForbidden(text="supervisors only")


async def supervisor_page(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    require_supervisor(current_user(request))
    now = time.time()
    online = await console.presence.online(now)
    waiting = await console.store.queue()
    active = await console.store.active()
    longest = max((now - c.enqueued_at for c in waiting), default=0.0)
    aht = await console.store.average_handle_time()
    content = render(
        "supervisor.html",
        online=len(online),
        queue_length=await console.store.queue_length(),
        longest=duration(longest) if waiting else "-",
        longest_s=int(longest),
        active=len(active),
        aht=duration(aht),
        agents=join([Markup(f"<li>{esc(a)}</li>") for a in online]),
        active_list=join(
            [Markup(f"<li>{esc(c.id[:24])} · {esc(c.agent or '')}</li>") for c in active]
        ),
    )
    return layout(request, "supervisor", "主管视图 Supervisor", content)


def setup(app: web.Application) -> None:
    router = app.router
    router.add_get("/console/login", login_form)
    router.add_post("/console/login", login)
    router.add_post("/console/logout", logout)
    router.add_get("/console", queue_page)
    router.add_get("/console/", queue_page)
    router.add_get("/console/conversations/{id}", conversation_page)
    router.add_get("/console/supervisor", supervisor_page)
