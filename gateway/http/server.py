"""How ``gateway serve`` runs uvicorn: which proxies are trusted, when idle connections close.

* ``http.trusted_proxies``: the peer addresses (or networks) whose
  ``X-Forwarded-For``/``X-Forwarded-Proto`` headers are believed. Empty (the
  default) means no proxy is trusted: the TCP peer is the client address every
  throttle sees, whatever headers it sends. uvicorn's own default would trust
  127.0.0.1, so any local client could pick its address.
* ``http.keep_alive_timeout``: seconds a connection may sit idle. uvicorn closes
  a kept-alive connection that long after its last response, but never one that
  has not sent a (complete) request head yet; :class:`IdleClosingHttpProtocol`
  closes both (in place of uvicorn's timer), so idle or half-sent connections cannot pile up.
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

    A deadline runs from the moment the connection opens and from the end of each
    response (when no pipelined request waits); a complete request head stops it.
    When it passes and no request is being answered, the connection is closed; it also
    stands for uvicorn's keep-alive timer, which is not armed. One
    timer per connection watches the deadline: moving the deadline costs a clock read,
    and the timer, when it fires early, waits again for the deadline then set.
    """

    _head_timer: asyncio.TimerHandle | None = None
    _head_deadline: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_deadline = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._stop_head_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        # uvicorn's, arming this deadline in place of uvicorn's keep-alive timer (which closes a
        # connection that sends nothing for as long: this deadline closes it then too).
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:  # the next pipelined request starts
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self._start_head_deadline()

    def _start_head_deadline(self) -> None:
        """A request head is due within the timeout from now (the timer is set unless one is)."""
        if self.transport.is_closing():
            return
        self._head_deadline = deadline = self.loop.time() + self.timeout_keep_alive
        if self._head_timer is None:
            self._head_timer = self.loop.call_at(deadline, self._close_if_idle)

    def _stop_head_deadline(self) -> None:
        """No head is due (one came): the timer, if set, will find no deadline and stop."""
        self._head_deadline = None

    def _close_if_idle(self) -> None:
        self._head_timer = None
        deadline = self._head_deadline
        if deadline is None:  # a request head came: the next response arms it again
            return
        if deadline > self.loop.time():  # moved since the timer was set
            self._head_timer = self.loop.call_at(deadline, self._close_if_idle)
            return
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
