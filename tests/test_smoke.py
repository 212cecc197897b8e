"""The app starts on a fresh root and answers health, readiness and auth errors."""

from tests.conftest import basic


def test_health_and_ready(client):
    assert client.get("/health").status_code == 200
    assert client.get("/ready").json() == {"ready": True}


def test_auth_errors(client):
    assert client.post("/", json={"operation": "describe_all"}).json() == {"error": "Must login"}
    wrong = client.post("/", json={"operation": "describe_all"}, headers=basic("admin", "nope"))
    assert (wrong.status_code, wrong.json()) == (401, {"error": "Login failed"})


def test_unknown_and_unsupported_operations(op):
    assert op({"operation": "frobnicate"}, 400) == {"error": "Operation 'frobnicate' not found"}
    assert op({"operation": "add_node"}, 400) == {
        "error": "Operation 'add_node' is not supported by this server"
    }
