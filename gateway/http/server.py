"""How ``gateway serve`` runs uvicorn: which proxies are trusted, when idle connections close.

* ``http.trusted_proxies``: the peer addresses (or networks) whose
  ``X-Forwarded-For``/``X-Forwarded-Proto`` headers are believed. Empty (the
  default) means no proxy is trusted: the TCP peer is the client address every
  throttle sees, whatever headers it sends. uvicorn's own default would trust
  127.0.0.1, so any local client could pick its address.
* ``http.keep_alive_timeout``: seconds a connection may sit idle. uvicorn closes
  a kept-alive connection that long after its last response, but never one that
  has not sent a (complete) request head yet; :class:`IdleClosingHttpProtocol`
  closes those too, so idle or half-sent connections cannot pile up.
* ``http.fast_path``: ``POST /`` answers cheap, bounded operations on the event loop (where the
  backend's reads are local) and skips the router; false: every operation in a worker thread.
* ``http.loop``: the event loop, ``auto`` (uvloop where it is installed, as it is with the
  gateway's dependencies), ``uvloop`` or ``asyncio`` (the standard library's).
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.config import Config, ConfigError


class IdleClosingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that also closes a connection idle before a request head.

    A timer runs from the moment the connection opens and from the end of each
    response (when no pipelined request waits); a complete request head stops it.
    When it fires and no request is being answered, the connection is closed.
    """

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.pipeline:
            self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        if not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.timeout_keep_alive, self._close_if_idle)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _close_if_idle(self) -> None:
        self._head_timer = None
        answering = self.cycle is not None and not self.cycle.response_complete
        if not answering and not self.transport.is_closing():
            self.transport.close()


def trusted_proxies(config: Config) -> list[str]:
    """``http.trusted_proxies`` as a list of addresses or networks (commas also separate entries)."""
    value = config.get("http.trusted_proxies")
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    proxies = [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError as exc:
            raise ConfigError(
                f"http.trusted_proxies: {proxy!r} is not an IP address or network (e.g. 10.0.0.5, "
                "10.0.0.0/24; in GATEWAY_HTTP_TRUSTED_PROXIES write IPv6 as a YAML list: '[\"::1\"]')"
            ) from exc
    return proxies


def keep_alive_timeout(config: Config) -> int:
    """``http.keep_alive_timeout``: a whole number of seconds, at least 1."""
    value = config.get("http.keep_alive_timeout")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"http.keep_alive_timeout must be a whole number of seconds >= 1, not {value!r}")
    return value


def fast_path(config: Config) -> bool:
    """``http.fast_path``: true or false."""
    value = config.get("http.fast_path")
    if not isinstance(value, bool):
        raise ConfigError(f"http.fast_path must be true or false, not {value!r}")
    return value


LOOPS = ("auto", "uvloop", "asyncio")


def event_loop(config: Config) -> str:
    """``http.loop``: one of :data:`LOOPS` (uvicorn's names for them)."""
    value = config.get("http.loop")
    if value not in LOOPS:
        raise ConfigError(f"http.loop must be one of {', '.join(LOOPS)}, not {value!r}")
    return str(value)


def uvicorn_options(config: Config) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.Config`` that come from the configuration."""
    proxies = trusted_proxies(config)
    return {
        "loop": event_loop(config),
        "http": IdleClosingHttpProtocol,
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies,
        "timeout_keep_alive": keep_alive_timeout(config),
    }
