"""A cap on request bodies, enforced before anything reads them whole.

A 28x28 drawing is a few kilobytes and a phone photo a few megabytes; a
larger body is refused with 413 as soon as its declared length, or the bytes
actually received, pass the limit, so a client cannot make the server buffer
gigabytes. (Decompression bombs, small files that decode to huge images, are
refused later by the image decoder's own pixel limit.)
"""

from __future__ import annotations

import json

MAX_BODY_BYTES = 8 * 1024 * 1024


class BodyTooLarge(Exception):
    """Raised from ``receive`` once more than the limit has arrived."""


class BodySizeLimit:
    """Pure ASGI middleware: 413 for bodies over ``limit`` bytes.

    Parameters
    ----------
    app : ASGI application
    limit : int
        Largest accepted body, in bytes.
    """

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.limit
            except ValueError:
                await _reply(send, 400, "invalid Content-Length header")
                return
            if too_big:
                await _reply(send, 413, f"request body larger than {self.limit:,} bytes")
                return

        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                await _reply(send, 413, f"request body larger than {self.limit:,} bytes")


async def _reply(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
