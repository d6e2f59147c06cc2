"""A bounded HTTP load generator on asyncio + httpx: N clients GET URLs from a picker until a
deadline or a request budget, whichever comes first; loopback only.

Each client has its own httpx client and keep-alive connection, opened once for every phase
(a shared pool of hundreds of connections costs httpx milliseconds of CPU per request, and
opening a client costs more than a request).

Latency is measured from when a request was due, not when it was sent: with pacing
(`interval_s` > 0) a client that falls behind sends at once and its queueing counts, so a
slow server cannot hide its backlog (no coordinated omission). With `interval_s` = 0 every
client sends back to back (closed loop: the server's maximum throughput; latency is then
concurrency / throughput by Little's law).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

import httpx

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
PathPicker = Callable[[random.Random], str]


@dataclass
class Results:
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    client_cpu_s: float = 0.0  # the load generator's own CPU time (it shares the machine)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)


class LoadGenerator:
    """`clients` keep-alive clients of `base_url` (loopback only), each with its own seeded
    random generator; `run` drives one phase of load with them."""

    def __init__(
        self, base_url: str, headers: dict[str, str], clients: int, timeout_s: float = 10.0
    ) -> None:
        host = urlsplit(base_url).hostname
        if host not in LOOPBACK:
            raise ValueError(f"the load generator only targets loopback, not {host!r}")
        self.base_url = base_url
        self.headers = headers
        self.clients = clients
        self.timeout_s = timeout_s
        self._stack = AsyncExitStack()
        self._http: list[httpx.AsyncClient] = []
        self._rngs = [random.Random(n) for n in range(clients)]

    async def __aenter__(self) -> LoadGenerator:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        for _ in range(self.clients):
            http = httpx.AsyncClient(
                base_url=self.base_url, headers=self.headers, limits=limits, timeout=self.timeout_s
            )
            self._http.append(await self._stack.enter_async_context(http))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    async def run(
        self, path_for: PathPicker, seconds: float, interval_s: float, max_requests: int
    ) -> Results:
        """One phase: every client sends every `interval_s` (0: back to back) until `seconds`
        have passed or `max_requests` were sent in all."""
        results = Results()
        budget = [max_requests]
        started = time.perf_counter()
        cpu_started = time.process_time()
        deadline = started + seconds
        await asyncio.gather(
            *(
                send_requests(http, rng, path_for, interval_s, deadline, budget, results)
                for http, rng in zip(self._http, self._rngs, strict=True)
            )
        )
        results.elapsed_s = time.perf_counter() - started
        results.client_cpu_s = time.process_time() - cpu_started
        return results


async def send_requests(
    http: httpx.AsyncClient,
    rng: random.Random,
    path_for: PathPicker,
    interval_s: float,
    deadline: float,
    budget: list[int],
    results: Results,
) -> None:
    # Spread the clients' first requests over one interval so they do not arrive in step.
    due = time.perf_counter() + rng.random() * interval_s
    while due < deadline and time.perf_counter() < deadline and budget[0] > 0:
        budget[0] -= 1
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            response = await http.get(path_for(rng))
            status: int | str = response.status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        done = time.perf_counter()
        results.latencies_s.append(done - due)
        results.statuses[status] += 1
        due = due + interval_s if interval_s else done
