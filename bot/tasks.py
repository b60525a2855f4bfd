"""Stopping background tasks reliably (SLA monitor, outbox sender, console workers)."""

from __future__ import annotations

import asyncio
import contextlib


async def stop_task(task: asyncio.Task, wait_s: float = 0.5) -> None:
    """Cancel until it is done.

    With Python 3.10, redis-py 4.6 can swallow a cancel that lands inside a
    command's timeout block (redis/redis-py#2551), which would hang shutdown.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=wait_s)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()
