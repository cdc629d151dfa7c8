"""Waiting until a condition holds, by polling it: synchronously (``wait_until``) or in a coroutine
(``eventually``, which also fails early when a watched process died)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import httpx


class WaitTimedOut(AssertionError, TimeoutError):
    """The condition did not hold in time.

    An AssertionError, so a test that meets it fails as a failed expectation; a TimeoutError, so a benchmark
    reports what it is.
    """


class Watched(Protocol):
    """A process whose death ends a wait at once (a ServiceProcess)."""

    name: str

    def assert_running(self) -> None: ...

    def tail(self, lines: int = 40) -> str: ...


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    """Call ``predicate`` every ``interval`` seconds until it is true; WaitTimedOut after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise WaitTimedOut(f"timed out after {timeout:.0f} s waiting for {what}")


async def eventually(
    check: Callable[[], Awaitable[bool]],
    timeout: float,
    what: str,
    *,
    interval: float = 0.25,
    alive: Sequence[Watched] = (),
) -> None:
    """Await ``check`` until it is true; fail early when a process in ``alive`` died.

    An HTTP error of the check counts as "not yet": the ops endpoint it scrapes may not be up.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in alive:
            process.assert_running()
        try:
            if await check():
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(interval)
    tails = "\n".join(f"--- {p.name}:\n{p.tail()}" for p in alive)
    raise WaitTimedOut(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")
