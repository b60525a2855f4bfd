"""Fixtures of the stack suites."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import Stack
from tests.support.webchat import Customer


@pytest.fixture
async def customer(stack: Stack) -> AsyncIterator[Customer]:
    """A new website visitor on the running stack's socket.io channel."""
    c = Customer(stack.rasa_url)
    await c.connect()
    yield c
    await c.client.disconnect()
