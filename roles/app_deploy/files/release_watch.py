"""Watch a colour of the GiftCrypto API after it received traffic (giftcrypto.platform.app_deploy).

For --seconds, once a second: the colour's 5xx responses as HAProxy counted them (admin socket,
`show stat`) since the start of the watch, and its /readyz answered directly. Exits 0 with a JSON
summary when the colour stayed healthy; exits 1 with the reason when more than --max-error-ratio
of at least --min-requests responses were 5xx, or /readyz failed --readyz-failures times in a row.
Standard library only (Debian's python3).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import socket
import sys
import time
import urllib.error
import urllib.request


def show_stat(path: str) -> list[dict]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(b"show stat\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    text = b"".join(chunks).decode().lstrip("# ")
    return list(csv.DictReader(io.StringIO(text)))


def counters(path: str, backend: str, server: str) -> tuple[int, int]:
    """(responses, 5xx responses) of backend/server since HAProxy started."""
    for row in show_stat(path):
        if row["pxname"] == backend and row["svname"] == server:
            total = sum(int(row.get(f"hrsp_{k}") or 0) for k in ("1xx", "2xx", "3xx", "4xx", "5xx", "other"))
            return total, int(row.get("hrsp_5xx") or 0)
    raise SystemExit(json.dumps({"ok": False, "reason": f"{backend}/{server} not found in HAProxy"}))


def ready(url: str) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback http only
            return response.status == 200, str(response.status)
    except urllib.error.HTTPError as error:
        return False, f"HTTP {error.code}"
    except OSError as error:
        return False, str(error)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True)
    parser.add_argument("--backend", default="api")
    parser.add_argument("--server", required=True)
    parser.add_argument("--readyz-url", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--max-error-ratio", type=float, default=0.05)
    parser.add_argument("--min-requests", type=int, default=20)
    parser.add_argument("--readyz-failures", type=int, default=3)
    args = parser.parse_args()

    start_total, start_errors = counters(args.socket, args.backend, args.server)
    deadline = time.monotonic() + args.seconds
    failures_in_a_row = 0
    requests = errors = 0
    while True:
        total, five_xx = counters(args.socket, args.backend, args.server)
        requests, errors = total - start_total, five_xx - start_errors
        if requests >= args.min_requests and errors / requests > args.max_error_ratio:
            reason = (
                f"{args.server}: {errors} of {requests} responses were 5xx "
                f"({errors / requests:.1%} > {args.max_error_ratio:.1%})"
            )
            print(json.dumps({"ok": False, "reason": reason, "requests": requests, "errors": errors}))
            return 1
        healthy, detail = ready(args.readyz_url)
        failures_in_a_row = 0 if healthy else failures_in_a_row + 1
        if failures_in_a_row >= args.readyz_failures:
            reason = f"{args.server}: /readyz failed {failures_in_a_row} times in a row ({detail})"
            print(json.dumps({"ok": False, "reason": reason, "requests": requests, "errors": errors}))
            return 1
        if time.monotonic() >= deadline:
            break
        time.sleep(1)
    print(json.dumps({"ok": True, "requests": requests, "errors": errors, "seconds": args.seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
