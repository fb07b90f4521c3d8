"""The demo's SMS gateway: takes the webhook's {to, text} and logs it instead of sending.

``siap112 demo`` starts it on the loopback port after the web server's and points
``sms.gateway_url`` at it (unless a real gateway is configured), so a caller
location link can be tried end to end without a telephone network: the link
appears in the log and, as always, on the console to copy.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import structlog
from aiohttp import web

from dispatch.privacy import mask_value
from dispatch.settings import Settings

log = structlog.get_logger(__name__)


def gateway_app() -> web.Application:
    async def take(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            to, text = str(body["to"]), str(body["text"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "expected JSON {to, text}"}, status=400)
        log.info("demo_sms.received", to=mask_value(to), text=text)
        return web.json_response({"queued": True})

    app = web.Application(client_max_size=4096)
    app.router.add_post("/sms", take)
    return app


def start_demo_gateway(settings: Settings) -> Settings:
    """Run the demo gateway in a thread of its own; the settings that use it."""
    if settings.sms.gateway_url:
        return settings
    host, port = "127.0.0.1", settings.http.port + 1
    ready = threading.Event()

    def run() -> None:
        async def serve() -> None:
            runner = web.AppRunner(gateway_app(), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
            ready.set()
            await asyncio.Event().wait()  # until the demo process ends

        asyncio.run(serve())

    threading.Thread(target=run, name="demo-sms-gateway", daemon=True).start()
    if not ready.wait(5.0):
        log.warning("demo_sms.not_started", port=port)
        return settings
    log.info("demo_sms.listening", url=f"http://{host}:{port}/sms")
    return replace(settings, sms=replace(settings.sms, gateway_url=f"http://{host}:{port}/sms"))
