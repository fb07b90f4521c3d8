"""A trivial aiohttp JSON POST endpoint: the baseline for the HTTP intake figures.

Run as ``python -m dispatch.benchmarks.echo PORT``; it serves on 127.0.0.1 only.
"""

from __future__ import annotations

import sys

from aiohttp import web


async def echo(request: web.Request) -> web.Response:
    """Parse the JSON body and answer with a small JSON document."""
    body = await request.json()
    return web.json_response({"ok": True, "fields": len(body)}, status=201)


async def healthz(request: web.Request) -> web.Response:
    """Ready."""
    return web.json_response({"ok": True})


def main() -> None:
    """Serve on 127.0.0.1 at the port given on the command line."""
    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
