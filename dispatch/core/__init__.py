"""The pure core: the rules a 112 centre depends on, free of I/O.

Nothing here imports aiohttp, asyncpg or redis, so every rule can be read and
tested without a server.
"""
