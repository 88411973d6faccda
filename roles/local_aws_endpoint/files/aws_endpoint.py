"""The local AWS endpoint: moto's server with the fidelity layer of giftcrypto.platform.

Same command line as ``moto_server`` (``--host``, ``--port``): it imports moto, applies the fixes
of the ``moto_fidelity`` package beside this file (each makes moto answer one call as the AWS API
reference documents it), then serves moto's WSGI application with moto's own request handler.
Environment variables (``MOTO_IAM_LOAD_MANAGED_POLICIES``, ...) are read by moto as with
``moto_server``. ``--list-fixes`` prints the fixes and exits.

Started in the background by the ``local_aws_endpoint`` role (``tasks/present.yml``); test
infrastructure only, never a stand-in for anything but AWS.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import signal
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import moto_fidelity


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", "5000")))
    parser.add_argument("--list-fixes", action="store_true", help="print the fidelity fixes and exit")
    return parser.parse_args(argv)


# Outside every AWS API's paths: what the endpoint is (the role waits for it, and refuses an
# endpoint that does not answer it, such as a bare moto_server started by an older version).
FIDELITY_PATH = "/_giftcrypto/fidelity"


def make_app():
    """moto's WSGI application (every service, dispatched by host and path) with the fixes applied.

    ``GET /_giftcrypto/fidelity`` answers the moto version and the fixes, as JSON.
    """
    import json

    moto_fidelity.apply()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    moto_app = DomainDispatcherApplication(create_backend_app)
    about = json.dumps(
        {
            "moto": moto_fidelity.moto_version(),
            "fixes": [{"service": fix.service, "name": fix.name} for fix in moto_fidelity.FIXES],
        }
    ).encode()

    def app(environ, start_response):
        if environ.get("PATH_INFO") == FIDELITY_PATH and environ.get("REQUEST_METHOD") == "GET":
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(about)))]
            )
            return [about]
        return moto_app(environ, start_response)

    return app


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.list_fixes:
        for fix in moto_fidelity.FIXES:
            print(f"{fix.service}\t{fix.name}\t{fix.summary}")
        return 0
    # moto builds URLs of some answers (SQS queue URLs, ...) from this variable.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import run_simple

    app = make_app()
    names = ", ".join(f"{fix.service}:{fix.name}" for fix in moto_fidelity.FIXES)
    print(
        f"moto {moto_fidelity.moto_version()} with {len(moto_fidelity.FIXES)} fidelity fixes: {names}",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
