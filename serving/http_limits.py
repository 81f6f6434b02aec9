"""HTTP-level guards: body size (413), content type (415), and validation errors (400/422)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from core.errors import (
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
    """Pure ASGI: refuse non-JSON POSTs (415) and bodies over the limit (413), however the body
    arrives.

    A declared content-length over the limit is refused before a byte is read. Otherwise (a chunked
    upload, or a content-length that lies) the body is read here, counting, and refused the moment
    it passes the limit; a body within the limit is handed to the app from memory. Reading it here
    rather than raising from inside the app's `receive` matters: FastAPI's body parsing catches any
    exception from `receive` and answers 400 "error parsing the body".
    """

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
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                await _reply(send, PayloadTooLarge(f"body exceeds the limit of {limit} bytes"))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        del chunks
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:  # after the body, the app only waits for a disconnect
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _reply(send, err: AdriskError) -> None:
    body = json.dumps(err.to_body()).encode()
    await send({
        "type": "http.response.start",
        "status": err.http_status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})
