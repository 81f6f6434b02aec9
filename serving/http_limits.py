"""HTTP-level guards: body size (413), content type (415), and validation errors (400/422)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from serving.errors import (
    AdriskError,
    InvalidInput,
    PayloadTooLarge,
    UnprocessableInput,
    UnsupportedMediaType,
)

DEFAULT_MAX_BODY = 32 * 1024 * 1024


def validation_error(errors: Sequence[Any]) -> AdriskError:
    """Pydantic/FastAPI errors → 400 for unparseable JSON, 422 for schema violations."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return InvalidInput("request body is not valid JSON")
    parts = []
    for e in list(errors)[:10]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    return UnprocessableInput("; ".join(parts))


class BodyLimitMiddleware:
    """Pure ASGI: refuse bodies over the limit before buffering them, and non-JSON POSTs."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        limit = getattr(getattr(scope.get("app"), "state", None), "max_body_bytes", DEFAULT_MAX_BODY)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            await _reply(send, UnsupportedMediaType(
                f"content-type must be application/json, got {ctype or 'none'}"))
            return
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await _reply(send, InvalidInput("content-length is not a number"))
                return
            if int(declared) > limit:
                await _reply(send, PayloadTooLarge(f"body is {declared} bytes; the limit is {limit}"))
                return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _reply(send, PayloadTooLarge(f"body exceeds the limit of {limit} bytes"))


class _BodyTooLarge(Exception):
    pass


async def _reply(send, err: AdriskError) -> None:
    body = json.dumps(err.to_body()).encode()
    await send({
        "type": "http.response.start",
        "status": err.http_status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})
