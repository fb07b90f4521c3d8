"""Outgoing SMS through the SMS gateway's webhook: POST {to, text} as JSON, the
shared secret in a header ([sms] gateway_url, secret_header, gateway_secret). One small interface,
``send(to, text)``; with no url configured there is no gateway and callers offer
the text to copy instead. Caller location links and warning SMS both send
through it."""

from __future__ import annotations

import aiohttp
import structlog

from dispatch.settings import SmsSettings

log = structlog.get_logger(__name__)


class SmsError(Exception):
    """The gateway did not take the message."""


class SmsGateway:
    def __init__(self, cfg: SmsSettings) -> None:
        self._cfg = cfg

    @property
    def configured(self) -> bool:
        return bool(self._cfg.gateway_url)

    async def send(self, to: str, text: str) -> None:
        """Hand one SMS to the gateway; SmsError (saying why) when it refuses or cannot
        be reached within ``timeout_s``."""
        cfg = self._cfg
        if not cfg.gateway_url:
            raise SmsError("no SMS gateway configured ([sms] gateway_url)")
        headers = {cfg.secret_header: cfg.gateway_secret} if cfg.gateway_secret else {}
        timeout = aiohttp.ClientTimeout(total=cfg.timeout_s)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http, http.post(
                    cfg.gateway_url, json={"to": to, "text": text}, headers=headers) as resp:
                if not 200 <= resp.status < 300:
                    raise SmsError(f"the SMS gateway answered HTTP {resp.status}")
        except TimeoutError:
            raise SmsError(f"the SMS gateway did not answer within {cfg.timeout_s:g} s"
                           ) from None
        except aiohttp.ClientError as exc:
            raise SmsError(f"the SMS gateway is not reachable: {type(exc).__name__}"
                           ) from None
        log.info("sms.sent", length=len(text))
