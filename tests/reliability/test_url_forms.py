"""csv_url_load and every IPv6 form of a private IPv4 address.

An IPv6 literal can reach an IPv4 host through a transition mechanism: IPv4-mapped
(``::ffff:a.b.c.d``), IPv4-compatible (``::a.b.c.d``), IPv4-translated
(``::ffff:0:a.b.c.d``), NAT64 (``64:ff9b::/96``, local-use ``64:ff9b:1::/48``), 6to4
(``2002:AABB:CCDD::/48``) and Teredo (``2001::/32``). Each must be judged by the IPv4
address it reaches. The check refuses before connecting: a socket hook fails the
test on any connection attempt, so no traffic leaves the process.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from gateway.bulk import urlfetch
from tests.conftest import Ops

SUFFIX = "a private, loopback or link-local address: refused (set bulk.url_allow_private to allow it)"

# (URL host, how getaddrinfo shows the address, the IPv4 address named as the reason or None)
REFUSED = [
    # IPv4-mapped: the IPv6 address itself is already not global
    ("::ffff:127.0.0.1", "::ffff:127.0.0.1", None),
    ("::ffff:a9fe:a9fe", "::ffff:169.254.169.254", None),
    # IPv4-compatible
    ("::7f00:1", "::127.0.0.1", "127.0.0.1"),
    ("::a00:1", "::10.0.0.1", "10.0.0.1"),
    ("::a9fe:a9fe", "::169.254.169.254", "169.254.169.254"),
    # IPv4-translated (SIIT)
    ("::ffff:0:7f00:1", "::ffff:0:7f00:1", "127.0.0.1"),
    # NAT64, well-known prefix
    ("64:ff9b::7f00:1", "64:ff9b::7f00:1", "127.0.0.1"),
    ("64:ff9b::c0a8:114", "64:ff9b::c0a8:114", "192.168.1.20"),
    ("64:ff9b::a9fe:a9fe", "64:ff9b::a9fe:a9fe", "169.254.169.254"),
    # NAT64, local-use prefix
    ("64:ff9b:1::7f00:1", "64:ff9b:1::7f00:1", "127.0.0.1"),
    # 6to4
    ("2002:7f00:1::1", "2002:7f00:1::1", "127.0.0.1"),
    ("2002:a00:1::", "2002:a00:1::", "10.0.0.1"),
    ("2002:a9fe:a9fe::1", "2002:a9fe:a9fe::1", "169.254.169.254"),
    # Teredo (client 127.0.0.1, obfuscated): 2001::/32 is not global by itself
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "2001:0:4136:e378:8000:63bf:80ff:fffe", None),
]


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fail on any outgoing connection (the check must refuse before connecting)."""
    attempts: list[Any] = []

    def connect(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"connection attempted to {address}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    return attempts


@pytest.mark.parametrize(("host", "resolved", "ipv4"), REFUSED, ids=[r[0] for r in REFUSED])
def test_every_ipv6_form_of_a_private_ipv4_address_is_refused_before_connecting(
    op: Ops, no_connections: list[Any], host: str, resolved: str, ipv4: str | None
) -> None:
    op({"operation": "create_table", "database": "dev", "table": "breed", "primary_key": "id"})
    body = {
        "operation": "csv_url_load",
        "database": "dev",
        "table": "breed",
        "csv_url": f"http://[{host}]:8080/breeds.csv",
    }
    error = op(body, 400)["error"]
    shown = resolved if ipv4 is None else f"{resolved} (IPv4 {ipv4})"
    assert error == f"csv_url host '{host}' resolves to {shown}, {SUFFIX}"
    assert no_connections == []
    assert (
        op({"operation": "search_jobs_by_start_date", "from_date": "2000-01-01", "to_date": "2999-01-01"})
        == []
    )


def test_the_local_use_nat64_prefix_is_refused_whatever_ipv4_address_it_carries(
    no_connections: list[Any],
) -> None:
    with pytest.raises(urlfetch.UrlRefused) as refused:
        urlfetch.check_url("http://[64:ff9b:1::808:808]/x.csv", allow_private=False)
    assert str(refused.value) == (
        "csv_url host '64:ff9b:1::808:808' resolves to 64:ff9b:1::808:808 "
        f"(local-use NAT64 prefix 64:ff9b:1::/48), {SUFFIX}"
    )


def test_an_s3_endpoint_in_an_ipv6_form_of_loopback_is_refused(op: Ops, no_connections: list[Any]) -> None:
    op({"operation": "create_table", "database": "dev", "table": "breed", "primary_key": "id"})
    body = {
        "operation": "import_from_s3",
        "database": "dev",
        "table": "breed",
        "s3": {
            "aws_access_key_id": "k",
            "aws_secret_access_key": "s",
            "bucket": "b",
            "key": "x.csv",
            "region": "us-east-1",
            "endpoint_url": "http://[64:ff9b::7f00:1]:9000",
        },
    }
    error = op(body, 400)["error"]
    assert "resolves to 64:ff9b::7f00:1 (IPv4 127.0.0.1), a private, loopback" in error
    assert no_connections == []


@pytest.mark.parametrize(
    "host",
    ["::ffff:8.8.8.8", "::808:808", "64:ff9b::808:808", "2002:808:808::1", "2606:4700:4700::1111"],
)
def test_forms_that_reach_a_public_address_pass_the_check(no_connections: list[Any], host: str) -> None:
    checked = urlfetch.check_url(f"http://[{host}]/x.csv", allow_private=False)
    assert checked.host == host
    assert no_connections == []


def test_allow_private_lets_every_form_through(no_connections: list[Any]) -> None:
    for host, _, _ in REFUSED:
        assert urlfetch.check_url(f"http://[{host}]/x.csv", allow_private=True).host == host
