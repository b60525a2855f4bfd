"""A real `python -m bot.desk` process for the browser, fuzz and OpenAPI suites: its
environment, its console users, starting and stopping it, logging in in a browser
(schemathesis against it: tests/support/openapi.py)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from bot import db
from tests.conftest import ROOT, free_port, http_ok, wait_until
from tests.support.accessibility import axe_context

# The console users the browser suites log in as.
BOSS_AND_AGENT = (("boss", "supervisor"), ("agent.li", "agent"))


def desk_env(redis_url: str, token: str, **extra: str) -> dict[str, str]:
    """The environment of a desk on a free port of 127.0.0.1 (DESK_PORT), with `extra`."""
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "DESK_HOST": "127.0.0.1",
        "DESK_PORT": str(free_port()),
        "DESK_API_TOKEN": token,
        **extra,
    }


def create_users(env: dict[str, str], users: Iterable[tuple[str, str]], password: str) -> None:
    """Console users (name, role), each with `password`, through the desk's own CLI."""
    for name, role in users:
        subprocess.run(
            [sys.executable, "-m", "bot.desk.users", "create", "--name", name, "--role", role]
            + ["--display-name", name, "--update"],
            env={**env, "KEFU_DESK_PASSWORD": password},
            cwd=ROOT,
            check=True,
            timeout=60,
            capture_output=True,
        )


@contextmanager
def desk_process(
    env: dict[str, str], *, log: Path | None = None, what: str = "desk"
) -> Iterator[str]:
    """`python -m bot.desk` with `env`, once /healthz answers: its URL. Its output goes to
    `log` (in a session of its own) or nowhere."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.desk"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb") if log else subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=log is not None,
    )
    url = f"http://127.0.0.1:{env['DESK_PORT']}"
    try:
        wait_until(lambda: http_ok(f"{url}/healthz"), 30, what, [proc])
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def console_desk(
    redis_url: str, token: str, password: str, users: Iterable[tuple[str, str]] = BOSS_AND_AGENT
) -> Iterator[str]:
    """A desk process (desk_process) on `redis_url` whose console has `users`, each
    logging in with `password`: its URL."""
    env = desk_env(redis_url, token)
    create_users(env, users, password)
    with desk_process(env) as url:
        yield url


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Runs async code from a test: Playwright's sync API keeps a loop running in this
    thread, so the coroutine gets a thread (and a loop) of its own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def flush(redis_url: str) -> None:
    redis = db.connect(redis_url)
    try:
        await redis.flushdb()
    finally:
        await redis.close()


def logged_in(browser: Browser, desk_url: str, path: str, name: str, password: str) -> Page:
    """A new page (with axe-core) that opens `path` of the console, is sent to the login
    form and submits it as `name`."""
    page = axe_context(browser).new_page()
    page.set_default_timeout(20_000)
    page.goto(desk_url + path)
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]")
    return page
