"""The app's routes as (method, path template) pairs, found from app.routes, so that tests
over every route cover routes added later without being edited."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")


@dataclass(frozen=True)
class RouteCall:
    method: str
    path: str

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)

    def url(self, **values: str) -> str:
        """The path with each parameter filled: from `values`, else with a fresh UUID."""
        return PARAM.sub(lambda m: values.get(m.group(1), str(uuid.uuid4())), self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def route_calls(app: object) -> list[RouteCall]:
    """Every (method, path) the app routes, included routers flattened; a mount (an ASGI app
    under a prefix) counts as its prefix with GET and POST; HEAD only where no GET answers it."""
    assert isinstance(app, FastAPI), app
    calls: set[RouteCall] = set()
    for route in iter_route_contexts(app.routes):
        path = route.path
        if not path:
            continue
        methods = set(route.methods or {"GET", "POST"})
        if "GET" in methods:
            methods.discard("HEAD")  # the GET answers it
        calls.update(RouteCall(method, path) for method in methods)
    return sorted(calls, key=lambda call: (call.path, call.method))
