"""Local Alertmanager webhook receiver: records every notification it is sent.

Stands in for Slack, e-mail and PagerDuty in the local environment (giftcrypto.platform.monitoring).
POST /alerts      an Alertmanager webhook payload; appended as one JSON line to --output, with
                  the time it arrived (received_at, Unix seconds) added
GET  /notifications  every recorded notification as a JSON array (the end-to-end alert test)
GET  /-/healthy   200 "ok"
Logs one JSON object per request on stderr (time, level, msg, path, status, request_id).
Standard library only: it runs on Debian's python3, outside the project's virtualenv.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MAX_BODY = 1 << 20  # Alertmanager payloads are a few kB; refuse anything absurd.
LOCK = threading.Lock()


def log(level: str, msg: str, **fields: object) -> None:
    """One structured JSON log line on stderr."""
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z", "level": level, "msg": msg}
    record.update(fields)
    sys.stderr.write(json.dumps(record) + "\n")
    sys.stderr.flush()


class Handler(BaseHTTPRequestHandler):
    """Records POST /alerts, serves GET /notifications and /-/healthy."""

    output: Path

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _request_id(self) -> str:
        return self.headers.get("X-Request-Id") or uuid.uuid4().hex

    def do_POST(self) -> None:
        request_id = self._request_id()
        if self.path != "/alerts":
            self._reply(404, b'{"error": "not found"}')
            log("warning", "unknown path", path=self.path, status=404, request_id=request_id)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._reply(400, b'{"error": "body missing or too large"}')
            log("warning", "bad body", path=self.path, status=400, request_id=request_id)
            return
        try:
            payload = json.loads(self.rfile.read(length))
        except ValueError:
            self._reply(400, b'{"error": "not JSON"}')
            log("warning", "not JSON", path=self.path, status=400, request_id=request_id)
            return
        payload["received_at"] = time.time()
        with LOCK, self.output.open("a", encoding="utf-8") as out:
            out.write(json.dumps(payload, sort_keys=True) + "\n")
        self._reply(200, b'{"status": "recorded"}')
        log(
            "info",
            "notification recorded",
            path=self.path,
            status=200,
            request_id=request_id,
            receiver=payload.get("receiver"),
            alert_status=payload.get("status"),
            alerts=len(payload.get("alerts") or []),
        )

    def do_GET(self) -> None:
        if self.path == "/-/healthy":
            self._reply(200, b"ok\n", "text/plain")
            return
        if self.path != "/notifications":
            self._reply(404, b'{"error": "not found"}')
            return
        with LOCK:
            lines = self.output.read_text(encoding="utf-8").splitlines() if self.output.exists() else []
        self._reply(200, ("[" + ",".join(lines) + "]").encode())

    def log_message(self, format: str, *args: object) -> None:
        """Silence http.server's own access log (requests are logged as JSON above)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9095)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    Handler.output = args.output
    server = ThreadingHTTPServer((args.address, args.port), Handler)
    log("info", "listening", address=args.address, port=args.port, output=str(args.output))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
