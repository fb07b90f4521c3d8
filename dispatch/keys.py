"""Typed application keys: the only way views reach shared resources."""

from __future__ import annotations

import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from dispatch.roads import RoadEngine
from dispatch.settings import Settings
from dispatch.store.accounts import Principal
from dispatch.stream import StreamHub
from dispatch.supervise import Supervisor
from dispatch.web.principals import PrincipalCache

SETTINGS = web.AppKey("settings", Settings)
PG_POOL = web.AppKey("pg_pool", asyncpg.Pool)
REDIS = web.AppKey("redis", Redis)
HUB = web.AppKey("stream_hub", StreamHub)
LOOPS = web.AppKey("loops", Supervisor)  # the supervised background loops
ROADS = web.AppKey("roads", RoadEngine)  # travel time by road (off without routing data)
# Recently seen tokens and sessions (dispatch/web/principals.py).
PRINCIPALS = web.AppKey("principals", PrincipalCache)
PRINCIPAL = web.RequestKey("principal", Principal)  # set by web/auth.authenticate
