"""A DNS stand-in for webhook tests: no query ever leaves the machine."""

from __future__ import annotations

import socket
from collections.abc import Mapping


class StubDns:
    """Resolves the names the test maps, and IP literals in every form getaddrinfo reads
    (dotted, decimal, hex, octal, short IPv4; IPv6) exactly as the system resolver would, but
    with AI_NUMERICHOST, so it never asks a name server; any other name does not resolve."""

    def __init__(self, answers: Mapping[str, list[str]] | None = None) -> None:
        self.answers: dict[str, list[str]] = {"localhost": ["127.0.0.1", "::1"]}
        self.answers.update(answers or {})
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host in self.answers:
            return list(self.answers[host])
        try:
            infos = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )
        except socket.gaierror:
            raise OSError(f"{host!r} is no name this test knows (stub DNS)") from None
        return list(dict.fromkeys(str(info[4][0]) for info in infos))
