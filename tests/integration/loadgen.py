"""A bounded loopback load generator for the release tests (issue 7).

Sends GET requests to one URL at a fixed rate from a few threads, each on a persistent HTTPS
connection (keep-alive, verified against the local CA) that it reopens only when the server
closes it, and records every request: start time, latency, status (0 for a transport error) and
the release that answered (the JSON /version body's `release`).
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field


@dataclass
class Sample:
    started: float
    seconds: float
    status: int
    release: str
    error: str = ""


@dataclass
class LoadGenerator:
    url: str
    cafile: str
    rate: float = 50.0
    threads: int = 5
    # Sent with every request, e.g. a signed-in user's Authorization (tools/local_cognito.py).
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        parts = urllib.parse.urlsplit(self.url)
        self._host, self._port, self._path = parts.hostname, parts.port or 443, parts.path or "/"
        self._context = ssl.create_default_context(cafile=self.cafile)

    def _connect(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self._host, self._port, context=self._context, timeout=10)

    def _worker(self, offset: float) -> None:
        interval = self.threads / self.rate
        next_at = time.monotonic() + offset
        conn = self._connect()
        while not self._stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_at += interval
            started, t0 = time.time(), time.monotonic()
            status, release, error = 0, "", ""
            try:
                conn.request("GET", self._path, headers={**self.headers, "Connection": "keep-alive"})
                response = conn.getresponse()
                body = response.read()
                status = response.status
                if status == 200:
                    release = json.loads(body).get("release", "")
                if response.will_close:
                    conn.close()
                    conn = self._connect()
            except (OSError, http.client.HTTPException, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                conn.close()
                conn = self._connect()
            with self._lock:
                self.samples.append(Sample(started, time.monotonic() - t0, status, release, error))
        conn.close()

    def __enter__(self) -> LoadGenerator:
        for index in range(self.threads):
            worker = threading.Thread(target=self._worker, args=(index / self.rate,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=15)

    def failures(self) -> list[Sample]:
        return [s for s in self.samples if s.status != 200]

    def first_served_by(self, release: str, after: float) -> float | None:
        """Start time of the first request after `after` answered by `release`."""
        times = [s.started for s in self.samples if s.started >= after and s.release == release]
        return min(times) if times else None

    def releases(self, after: float = 0.0) -> set[str]:
        return {s.release for s in self.samples if s.started >= after and s.status == 200}
