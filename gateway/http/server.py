"""How ``gateway serve`` runs uvicorn: which proxies are trusted.

* ``http.trusted_proxies``: the peer addresses (or networks) whose
  ``X-Forwarded-For``/``X-Forwarded-Proto`` headers are believed. Empty (the
  default) means no proxy is trusted: the TCP peer is the client address every
  throttle sees, whatever headers it sends. uvicorn's own default would trust
  127.0.0.1, so any local client could pick its address.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from gateway.config import Config, ConfigError


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


def uvicorn_options(config: Config) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` that come from the configuration."""
    proxies = trusted_proxies(config)
    return {
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies,
    }
