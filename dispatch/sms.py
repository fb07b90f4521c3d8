"""Outgoing SMS through the SMS gateway's webhook: POST {to, text} as JSON, the
shared secret in a header ([sms] url, secret_header, secret). One small interface,
``send(to, text)``; with no url configured there is no gateway and callers offer
the text to copy instead."""

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
        return bool(self._cfg.url)

    async def send(self, to: str, text: str) -> None:
        """Hand one SMS to the gateway; SmsError when it refuses or cannot be reached."""
        if not self._cfg.url:
            raise SmsError("no SMS gateway configured ([sms] url)")
        headers = {self._cfg.secret_header: self._cfg.secret} if self._cfg.secret else {}
        timeout = aiohttp.ClientTimeout(total=self._cfg.timeout_s)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http, http.post(
                    self._cfg.url, json={"to": to, "text": text}, headers=headers) as resp:
                if not 200 <= resp.status < 300:
                    raise SmsError(f"the gateway answered HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SmsError(f"{type(exc).__name__}: {exc}") from None
        log.info("sms.sent", length=len(text))
