"""The ASGI layer in front of every route: API key, body size limit, access log and request metrics.

Plain ASGI (not ``BaseHTTPMiddleware``) so streamed responses pass through untouched and a client disconnect
reaches the route at once. The key check runs before the body is read, so a request without a key gets 401 even
when its body is malformed or too large.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from typing import Any

from massivetext.serving.metrics import ServerMetrics
from massivetext.serving.openai_errors import error_body

access_log = logging.getLogger("massivetext.serving.access")


async def _send_error(send, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps(error_body(status, message, None, code)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw.append((b"x-should-retry", b"true" if status in (429, 503) else b"false"))
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class GatewayMiddleware:
    def __init__(self, app, api_key: str | None, max_body_bytes: int, metrics: ServerMetrics):
        self.app = app
        self.key = api_key.encode() if api_key else None
        self.max_body = max_body_bytes
        self.metrics = metrics

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        given = headers.get(b"authorization", b"")
        scheme, _, token = given.partition(b" ")
        # constant time whatever the token's length or content
        return hmac.compare_digest(token.strip() if scheme.lower() == b"bearer" else b"", self.key)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.monotonic()
        path = scope["path"]
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode() or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = {"code": 500}
        route = path if path.startswith("/v1/") or path in ("/health", "/metrics") else "other"

        async def send_logged(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            if self.key is not None and path.startswith("/v1/") and not self._authorized(headers):
                await _send_error(
                    send_logged,
                    401,
                    "invalid or missing API key: send 'Authorization: Bearer KEY'",
                    "invalid_api_key",
                    {"www-authenticate": "Bearer"},
                )
                return
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                await _send_error(
                    send_logged, 413, f"request body over the limit of {self.max_body} bytes", "request_too_large"
                )
                return
            if length is None and scope["method"] in ("POST", "PUT", "PATCH"):
                # a chunked body: read it whole (up to the limit) before the route sees it, so an endless body
                # gets 413 and never reaches the JSON parser
                chunks, seen, more = [], 0, True
                while more:
                    message = await receive()
                    if message["type"] != "http.request":
                        return
                    chunks.append(message.get("body", b""))
                    seen += len(chunks[-1])
                    more = message.get("more_body", False)
                    if seen > self.max_body:
                        await _send_error(
                            send_logged,
                            413,
                            f"request body over the limit of {self.max_body} bytes",
                            "request_too_large",
                        )
                        return
                body, replayed = b"".join(chunks), False

                async def replay() -> dict[str, Any]:
                    nonlocal replayed
                    if not replayed:
                        replayed = True
                        return {"type": "http.request", "body": body, "more_body": False}
                    return await receive()

                await self.app(scope, replay, send_logged)
            else:
                await self.app(scope, receive, send_logged)
        finally:
            elapsed = time.monotonic() - start
            self.metrics.requests.labels(route, str(status["code"])).inc()
            if route.startswith("/v1/"):
                self.metrics.latency.labels(route).observe(elapsed)
            client = scope.get("client") or ("-", 0)
            access_log.info(
                json.dumps(
                    {
                        "ts": round(time.time(), 3),
                        "request_id": request_id,
                        "client": f"{client[0]}:{client[1]}",
                        "method": scope["method"],
                        "path": path,
                        "status": status["code"],
                        "duration_ms": round(elapsed * 1000, 2),
                    }
                )
            )
