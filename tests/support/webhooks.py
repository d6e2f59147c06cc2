"""Webhook test support: a real receiver (an HTTP server on 127.0.0.1 that records every
request and answers with the statuses the test scripts), and video changes made through the
repositories as the product makes them."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vodforge.jobs.repository import Failure, JobRepository
from vodforge.tenants.repository import Tenant
from vodforge.webhooks.delivery import WebhookDeliverer
from vodforge.webhooks.repository import WebhookRepository

# make_deliverer(allow_private=..., resolve=..., cls=..., **DeliveryPolicy fields)
DelivererFactory = Callable[..., WebhookDeliverer]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Answers each POST with the next scripted status (the last one repeats)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [200])
        self.received: list[Received] = []
        self.extra_headers: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def script(self, *statuses: int) -> None:
        with self._lock:
            self.statuses = list(statuses)

    def _next_status(self) -> int:
        with self._lock:
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                with receiver._lock:
                    receiver.received.append(Received(self.path, headers, body))
                status = receiver._next_status()
                self.send_response(status)
                for key, value in receiver.extra_headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def receiver(statuses: list[int] | None = None) -> Iterator[Receiver]:
    server = Receiver(statuses)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- making changes through the repositories, as the product does ----------------------------


def queued(repo: JobRepository, tenant: Tenant, title: str = "clip") -> tuple[str, str]:
    """An UPLOADED video with its QUEUED job: (video id, job id)."""
    return repo.create_video_and_job(
        tenant.id, title, source_key=f"sources/{title}.mp4", source_bytes=1024
    )


def sample_package(video_id: str) -> dict[str, Any]:
    prefix = f"videos/{video_id}/out/"
    return {
        "prefix": prefix,
        "master": prefix + "master.m3u8",
        "thumbnail": prefix + "thumbnail.jpg",
        "renditions": [
            {"name": "360p", "width": 640, "height": 360, "bandwidth": 900_000},
        ],
    }


def make_ready(repo: JobRepository, tenant: Tenant, title: str = "ready") -> str:
    """A job claimed and completed through the repository: the video is READY."""
    video_id, job_id = queued(repo, tenant, title)
    job = repo.claim_job_by_id(job_id, "test-worker")
    assert job is not None
    repo.complete_job(job, sample_package(video_id))
    return video_id


def make_failed(repo: JobRepository, tenant: Tenant, title: str = "failed") -> str:
    video_id, job_id = queued(repo, tenant, title)
    job = repo.claim_job_by_id(job_id, "test-worker")
    assert job is not None
    repo.fail_job(job, Failure("INVALID_INPUT", "not a video", retryable=False))
    return video_id


def types_of(webhooks_repo: WebhookRepository, video_id: str) -> list[str]:
    return [event.type for event in webhooks_repo.events_of_video(video_id)]
