"""``scorekit rate``: the web rating form."""

from __future__ import annotations

from scorekit.cli.verbs import VERBS, port


def _rate_arguments(p) -> None:
    p.add_argument("--workspace", required=True)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default loopback; others need --token)")
    p.add_argument("--port", type=port, default=8765)
    p.add_argument("--token", help="secret every request must carry (?token= or X-Token)")


@VERBS.verb("rate", "serve the web rating form for a workspace", _rate_arguments)
def rate(args) -> int:
    from scorekit.web.app import serve

    serve(args.workspace, host=args.host, port=args.port, token=args.token)
    return 0
