"""Tokens (issue, use, refresh, misuse) and the system operations through the real app."""

from __future__ import annotations

import jwt
import yaml

from gateway.config import load_config
from tests.conftest import ADMIN_AUTH, Ops, basic
from tests.support.server import ADMIN_PASSWORD


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens(client):
    issued = client.post(
        "/",
        json={"operation": "create_authentication_tokens", "username": "admin", "password": ADMIN_PASSWORD},
    )
    assert issued.status_code == 200
    tokens = issued.json()
    assert list(tokens) == ["operation_token", "refresh_token"]
    payload = jwt.decode(tokens["operation_token"], options={"verify_signature": False})
    assert jwt.get_unverified_header(tokens["operation_token"])["alg"] == "RS256"
    assert {k: payload[k] for k in ("username", "super_user", "cluster_user", "sub")} == {
        "username": "admin",
        "super_user": True,
        "cluster_user": False,
        "sub": "operation",
    }
    assert payload["exp"] - payload["iat"] == 86400
    refresh = jwt.decode(tokens["refresh_token"], options={"verify_signature": False})
    assert refresh["sub"] == "refresh" and refresh["exp"] - refresh["iat"] == 30 * 86400

    as_bearer = Ops(client, _bearer(tokens["operation_token"]))
    assert as_bearer({"operation": "user_info"})["username"] == "admin"
    refresh_as_bearer = Ops(client, _bearer(tokens["refresh_token"]))
    assert refresh_as_bearer({"operation": "describe_all"}, 401) == {"error": "invalid token"}
    garbage = Ops(client, _bearer("not.a.token"))
    assert garbage({"operation": "describe_all"}, 401) == {"error": "invalid token"}

    renewed = refresh_as_bearer({"operation": "refresh_operation_token"})
    assert list(renewed) == ["operation_token"]
    assert Ops(client, _bearer(renewed["operation_token"]))({"operation": "user_info"})["username"] == "admin"
    with_basic = Ops(client, ADMIN_AUTH)(
        {"operation": "refresh_operation_token", "refresh_token": tokens["refresh_token"]}
    )
    assert "operation_token" in with_basic
    # an operation token is not a refresh token, and garbage is not either
    assert as_bearer({"operation": "refresh_operation_token"}, 401) == {"error": "invalid token"}
    assert Ops(client, ADMIN_AUTH)({"operation": "refresh_operation_token", "refresh_token": "x"}, 401) == {
        "error": "invalid token"
    }
    assert Ops(client, {})({"operation": "refresh_operation_token"}, 401) == {"error": "Must login"}


def test_create_tokens_errors(client):
    wrong = client.post(
        "/", json={"operation": "create_authentication_tokens", "username": "admin", "password": "bad"}
    )
    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid credentials"})
    missing = client.post("/", json={"operation": "create_authentication_tokens"})
    assert (missing.status_code, missing.json()) == (401, {"error": "invalid credentials"})


def test_token_of_a_dropped_user_stops_working(op, client):
    op({"operation": "add_role", "role": "r", "permission": {"super_user": False}})
    op({"operation": "add_user", "username": "temp", "password": "pw", "role": "r"})
    tokens = client.post(
        "/", json={"operation": "create_authentication_tokens", "username": "temp", "password": "pw"}
    ).json()
    temp = Ops(client, _bearer(tokens["operation_token"]))
    assert temp({"operation": "user_info"})["username"] == "temp"
    op({"operation": "drop_user", "username": "temp"})
    assert temp({"operation": "user_info"}, 401) == {"error": "invalid token"}
    assert Ops(client, _bearer(tokens["refresh_token"]))({"operation": "refresh_operation_token"}, 401) == {
        "error": "invalid token"
    }


def test_read_log(op):
    assert op({"operation": "describe_table", "database": "nodb", "table": "x"}, 404) == {
        "error": "database 'nodb' does not exist"
    }  # and logs it
    entries = op({"operation": "read_log"})
    assert entries and set(entries[0]) == {"timestamp", "thread", "level", "tags", "message"}
    assert any("database 'nodb' does not exist" in e["message"] for e in entries)
    assert len(op({"operation": "read_log", "limit": 1})) == 1
    newest = op({"operation": "read_log", "order": "desc", "limit": 1})[0]
    assert newest["timestamp"] >= entries[0]["timestamp"]
    assert op({"operation": "read_log", "level": "critical"}) == []
    assert op({"operation": "read_log", "from": "2999-01-01T00:00:00Z"}) == []
    assert len(op({"operation": "read_log", "until": "2999-01-01T00:00:00.000Z"})) == len(entries)
    assert op({"operation": "read_log", "from": "yesterday"}, 400) == {
        "error": "'from' must be an ISO 8601 date-time or epoch milliseconds"
    }
    assert op({"operation": "read_log", "limit": "5"}, 400) == {
        "error": "'limit' must be an integer of at least 0"
    }


def test_system_information(op):
    cpu_only = op({"operation": "system_information", "attributes": ["cpu"]})
    assert list(cpu_only) == ["cpu"]
    assert cpu_only["cpu"]["cores"] >= 1 and "current_load" in cpu_only["cpu"]
    everything = op({"operation": "system_information"})
    assert {"system", "time", "cpu", "memory", "disk", "network", "table_size"} <= set(everything)
    assert everything["memory"]["total"] > 0 and everything["disk"]["size"][0]["size"] > 0
    assert op({"operation": "system_information", "attributes": "cpu"}, 400) == {
        "error": "'attributes' must be an array of section names"
    }


def test_configuration(op, root):
    config = op({"operation": "get_configuration"})
    assert config["http"]["port"] == 9925 and config["rootPath"] == str(root.resolve())
    assert {"http", "logging", "authentication", "rootPath", "storage", "operationsApi", "threads"} <= set(
        config
    )
    answer = op(
        {
            "operation": "set_configuration",
            "logging_level": "debug",
            "http": {"port": 9999},
            "jobs.threads": 3,
        }
    )
    assert answer == {
        "message": "Configuration successfully set. You must restart the gateway for new config settings to take effect."
    }
    written = yaml.safe_load((root / "gateway-config.yaml").read_text())
    assert written == {"logging": {"level": "debug"}, "http": {"port": 9999}, "jobs": {"threads": 3}}
    assert load_config(root=root, environ={}).get("http.port") == 9999  # effective on restart
    assert op({"operation": "get_configuration"})["http"]["port"] == 9925  # not before
    assert op({"operation": "set_configuration", "nonsense_key": 1}, 400) == {
        "error": "Unknown configuration keys: nonsense_key"
    }
    assert op({"operation": "set_configuration", "http_port": "high"}, 400) == {
        "error": "'http.port' must be an integer"
    }
    assert op({"operation": "set_configuration"}, 400) == {
        "error": "set_configuration needs at least one configuration key"
    }


def test_registration_info_and_unsupported(op, client):
    info = op({"operation": "registration_info"})
    assert info["name"] == "batch-import-gateway" and info["version"]
    for name in ("custom_functions_status", "add_component", "set_license", "add_node"):
        assert op({"operation": name}, 400) == {
            "error": f"Operation '{name}' is not supported by this server"
        }
    assert Ops(client, basic("admin", "wrong"))({"operation": "registration_info"}, 401) == {
        "error": "Login failed"
    }
