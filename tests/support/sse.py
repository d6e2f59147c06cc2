"""Reads a text/event-stream response as the dashboard does: (event, data) pairs, with the
comment lines (heartbeats) kept apart, so tests can follow GET /v1/videos/stream live."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Message:
    event: str
    data: Any  # parsed JSON


@dataclass
class EventStream:
    """A stream read on a thread; `next()` waits for the next message."""

    status_code: int
    body: Any = None  # the JSON error of a refused stream
    messages: queue.Queue[Message | None] = field(default_factory=queue.Queue)
    comments: list[str] = field(default_factory=list)

    def next(self, timeout: float = 10) -> Message:
        message = self.messages.get(timeout=timeout)
        if message is None:
            raise AssertionError("the stream ended")
        return message

    def until(self, event: str, timeout: float = 10) -> Message:
        """Skip messages until one named `event`."""
        while True:
            message = self.next(timeout)
            if message.event == event:
                return message


def parse_lines(lines: Iterator[str], stream: EventStream) -> None:
    event, data = "message", []
    for line in lines:
        if line == "":
            if data:
                stream.messages.put(Message(event, json.loads("\n".join(data))))
            event, data = "message", []
        elif line.startswith(":"):
            stream.comments.append(line)
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


@contextmanager
def open_stream(url: str, headers: dict[str, str]) -> Iterator[EventStream]:
    """Connect and read in the background until the server ends the stream or the test
    leaves the block (which closes the connection, as a browser tab closing would)."""
    client = httpx.Client(timeout=httpx.Timeout(10, read=None))
    response = client.send(client.build_request("GET", url, headers=headers), stream=True)
    stream = EventStream(response.status_code)

    def read() -> None:
        try:
            parse_lines(response.iter_lines(), stream)
        except httpx.HTTPError:
            pass
        finally:
            stream.messages.put(None)

    reader = threading.Thread(target=read, name="sse-reader", daemon=True)
    if response.status_code == 200:
        reader.start()
    else:
        response.read()
        stream.body = response.json()
    try:
        yield stream
    finally:
        # Closing from this thread does not wake a read blocked on the socket: a reader still
        # waiting is left to the server ending the stream (its lifetime, or its shutdown).
        response.close()
        client.close()
        if reader.is_alive():
            reader.join(timeout=1)
