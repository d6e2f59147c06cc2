"""A bounded API load on loopback during a fault run: reads at a steady rate (the video list
and single videos) and uploads of a small clip at a slower one. Every request is recorded
with its start, outcome and latency, so each fault's window gets its error rate and p99.

Written by hand rather than with locust: the run needs per-request records it can cut into
fault windows from inside the test process, at a rate of a few requests a second; locust's
runner and its statistics aggregation are built for the opposite."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass(frozen=True)
class Sample:
    at: float  # time.time() when the request started
    kind: str  # "list", "get" or "upload"
    status: int  # HTTP status; 0 when no response came (refused, reset, timed out)
    latency_s: float
    error: str = ""  # the client's exception when no response came


@dataclass
class LoadStats:
    requests: int
    errors: int  # no response, or a status >= 500 other than 503
    unavailable: int  # 503: the answer the API owes while its database is down
    p99_ms: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass
class LoadGenerator:
    api_url: str
    headers: dict[str, str]
    clip: Path
    reads_per_s: float = 4.0
    upload_every_s: float = 6.0
    samples: list[Sample] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)  # ids of videos the API accepted
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for target in (self._reads, self._uploads):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def stats(self, start: float, end: float) -> LoadStats:
        with self._lock:
            window = [s for s in self.samples if start <= s.at <= end]
        latencies = sorted(s.latency_s for s in window)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0
        return LoadStats(
            requests=len(window),
            errors=sum(1 for s in window if s.status == 0 or (s.status >= 500 and s.status != 503)),
            unavailable=sum(1 for s in window if s.status == 503),
            p99_ms=p99 * 1000,
        )

    def failures(self, start: float, end: float) -> list[Sample]:
        with self._lock:
            return [
                s
                for s in self.samples
                if start <= s.at <= end and (s.status == 0 or s.status >= 500)
            ]

    def _record(self, kind: str, started: float, t0: float, status: int, error: str = "") -> None:
        with self._lock:
            self.samples.append(Sample(started, kind, status, time.monotonic() - t0, error))

    def _reads(self) -> None:
        rng = random.Random(1)
        with httpx.Client(base_url=self.api_url, headers=self.headers, timeout=10) as client:
            while not self._stop.wait(1 / self.reads_per_s):
                with self._lock:
                    known = list(self.uploaded)
                if known and rng.random() < 0.5:
                    kind, path = "get", f"/v1/videos/{rng.choice(known)}"
                else:
                    kind, path = "list", "/v1/videos?limit=20"
                started, t0 = time.time(), time.monotonic()
                error = ""
                try:
                    status = client.get(path).status_code
                except httpx.HTTPError as exc:
                    status, error = 0, type(exc).__name__
                self._record(kind, started, t0, status, error)

    def _uploads(self) -> None:
        body = self.clip.read_bytes()
        with httpx.Client(base_url=self.api_url, headers=self.headers, timeout=30) as client:
            n = 0
            while not self._stop.wait(self.upload_every_s):
                n += 1
                error = ""
                started, t0 = time.time(), time.monotonic()
                try:
                    response = client.post(
                        "/v1/videos",
                        files={"file": (f"load-{n}.mp4", body, "video/mp4")},
                        data={"title": f"load {n}"},
                    )
                    status = response.status_code
                    if status == 201:
                        with self._lock:
                            self.uploaded.append(response.json()["id"])
                except httpx.HTTPError as exc:
                    status, error = 0, type(exc).__name__
                self._record("upload", started, t0, status, error)
