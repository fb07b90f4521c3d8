"""A local tile server for the map tests: every /{z}/{x}/{y}.png is one small PNG."""

from __future__ import annotations

import struct
import zlib

from aiohttp import web


def png(width: int = 256, height: int = 256, rgb: tuple[int, int, int] = (214, 232, 214)
        ) -> bytes:
    """A solid-colour PNG, written by hand (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height))
            + chunk(b"IEND", b""))


class TileServer:
    """Serves the same tile for every z/x/y and records which were asked for."""

    def __init__(self) -> None:
        self.requested: list[tuple[int, int, int]] = []
        self.referers: set[str | None] = set()
        self.body = png()

    def app(self) -> web.Application:
        async def tile(request: web.Request) -> web.Response:
            z, x, y = (int(request.match_info[k]) for k in ("z", "x", "y"))
            self.requested.append((z, x, y))
            self.referers.add(request.headers.get("Referer"))
            return web.Response(body=self.body, content_type="image/png")

        app = web.Application()
        app.router.add_get(r"/{z:\d+}/{x:\d+}/{y:\d+}.png", tile)
        return app
