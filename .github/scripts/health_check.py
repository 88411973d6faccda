"""Health check after a deploy or a rollback: every URL answers 200 within a deadline.

    python .github/scripts/health_check.py [--deadline SECONDS] URL...

The CD workflows pass the URLs of the environment (repository variables STAGING_HEALTH_URLS and
PRODUCTION_HEALTH_URLS, e.g. the service's /healthz and /readyz behind the load balancer). Each URL
is polled every 5 s until it answers 200 or the deadline (default 120 s, the rollback budget of
US-002) passes; only https URLs are accepted (http://127.0.0.1 for a local rehearsal).
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request


def _allowed(url: str) -> bool:
    return url.startswith("https://") or url.startswith(("http://127.0.0.1", "http://localhost"))


def _status(url: str) -> int | str:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (scheme checked above)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        return str(getattr(error, "reason", error))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadline", type=float, default=120.0)
    parser.add_argument("urls", nargs="+")
    args = parser.parse_args(argv)
    bad = [url for url in args.urls if not _allowed(url)]
    if bad:
        print(f"::error::refusing non-https health URL(s): {' '.join(bad)}")
        return 2
    pending = list(args.urls)
    deadline = time.monotonic() + args.deadline
    last: dict[str, int | str] = {}
    while pending:
        for url in list(pending):
            last[url] = _status(url)
            if last[url] == 200:
                print(f"healthy: {url}")
                pending.remove(url)
        if not pending:
            break
        if time.monotonic() >= deadline:
            for url in pending:
                print(f"::error::unhealthy after {args.deadline:.0f} s: {url} (last answer: {last[url]})")
            return 1
        time.sleep(5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
