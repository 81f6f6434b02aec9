"""API keys and roles on every route, over HTTP and gRPC; auth on with no key refuses every
protected call (revoking the last key never re-opens access); `auth: off` (the cpu profile the
session service runs) serves loopback callers only and refuses a non-loopback bind."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from serving.auth import hash_key, new_key, write_keys_file
from serving.grpc_client import AdriskClient

KEYS = {role: new_key() for role in ("score", "feedback", "read", "admin")}
PREFIX = "/secure"
REVIEW = {"creative": {"text": "Fresh bread delivered daily"}}
# (method, path, body, role needed); request ids are filled in per call.
ROUTES = [
    ("POST", "/v1/review", REVIEW, "score"),
    ("POST", "/v1/review:batch", {"items": [REVIEW]}, "score"),
    ("GET", "/v1/taxonomy", None, "score"),
    ("POST", "/v1/feedback", {"reviewer": "r", "final_action": "approve"}, "feedback"),
    ("GET", "/v1/decisions/{id}", None, "read"),
    ("GET", "/v1/trends", None, "read"),
]
OPEN = ["/healthz", "/readyz", "/metrics"]
LOGS = Path("/tmp/ray/session_latest/logs/serve")


@pytest.fixture(scope="module")
def secured(service, tmp_path_factory):
    from commands.launcher import run_extra_ingress

    folder = tmp_path_factory.mktemp("auth")
    keys_file = folder / "keys.yaml"
    write_keys_file(keys_file, [{"name": f"{role}-key", "roles": [role], "sha256": hash_key(key)}
                                for role, key in KEYS.items()])
    run_extra_ingress(
        "adrisk-auth", PREFIX,
        overrides={"auth": {"keys_file": str(keys_file), "reload_s": 0.2},
                   "store": {"path": str(folder / "auth.sqlite3")},
                   "llm": None},
        ingress_options={"ray_actor_options": {"num_cpus": 0.05}},
    )
    with httpx.Client(base_url=service.url + PREFIX, timeout=60) as client:
        seed = f"auth-seed-{uuid.uuid4().hex[:6]}"
        assert client.post("/v1/review", json={"request_id": seed, **REVIEW},
                           headers={"x-api-key": KEYS["admin"]}).status_code == 200
        yield client, keys_file, seed


def call(client, method, path, body, seed, headers):
    rid = f"auth-{uuid.uuid4().hex[:8]}"
    path = path.replace("{id}", seed)
    if body is not None:
        body = {**body, "request_id": seed if "reviewer" in body else rid}
        if "items" in body:
            body = {"items": [{**REVIEW, "request_id": rid}]}
        return client.request(method, path, json=body, headers=headers)
    return client.request(method, path, headers=headers)


@pytest.mark.parametrize("method, path, body, role", ROUTES, ids=[r[1] for r in ROUTES])
def test_every_protected_route_needs_a_key_with_its_role(secured, method, path, body, role):
    client, _, seed = secured
    missing = call(client, method, path, body, seed, {})
    assert missing.status_code == 401 and missing.json()["error"] == "unauthenticated"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert call(client, method, path, body, seed, {"x-api-key": "ak_not-a-key"}).status_code == 401
    other = next(r for r in KEYS if r not in (role, "admin"))
    denied = call(client, method, path, body, seed, {"x-api-key": KEYS[other]})
    assert denied.status_code == 403 and role in denied.json()["detail"]
    allowed = call(client, method, path, body, seed, {"x-api-key": KEYS[role]})
    assert allowed.status_code == 200, allowed.text
    bearer = call(client, method, path, body, seed, {"authorization": f"Bearer {KEYS['admin']}"})
    assert bearer.status_code == 200, bearer.text


@pytest.mark.parametrize("path", OPEN)
def test_health_readiness_and_metrics_stay_open(secured, path):
    client, _, _ = secured
    assert client.get(path).status_code == 200


def test_a_revoked_key_stops_working_without_a_restart(secured):
    client, keys_file, _ = secured
    extra = new_key()
    from serving.auth import read_keys_file

    write_keys_file(keys_file, [*read_keys_file(keys_file), {"name": "temp", "roles": ["score"],
                                                             "sha256": hash_key(extra)}])
    deadline = time.monotonic() + 10
    while client.get("/v1/taxonomy", headers={"x-api-key": extra}).status_code != 200:
        assert time.monotonic() < deadline, "a new key was not picked up"
        time.sleep(0.2)
    out = subprocess.run([sys.executable, "-m", "commands.cli", "keys", "revoke", "--name", "temp", "--file",
                          str(keys_file)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    deadline = time.monotonic() + 10
    while client.get("/v1/taxonomy", headers={"x-api-key": extra}).status_code != 401:
        assert time.monotonic() < deadline, "a revoked key still works"
        time.sleep(0.2)


GRPC_METHODS = [
    ("review", lambda c: c.review({"request_id": f"ga-{uuid.uuid4().hex[:6]}", **REVIEW}), "score"),
    ("review_batch", lambda c: c.review_batch([{"request_id": f"gb-{uuid.uuid4().hex[:6]}", **REVIEW}]), "score"),
    ("taxonomy", lambda c: c.taxonomy(), "score"),
    ("feedback", lambda c: c.feedback({"request_id": "missing-id", "reviewer": "r", "final_action": "approve"}),
     "feedback"),
]


@pytest.mark.parametrize("name, invoke, role", GRPC_METHODS, ids=[m[0] for m in GRPC_METHODS])
def test_every_grpc_method_needs_a_key_with_its_role(secured, service, name, invoke, role):
    target = service.grpc_target
    with AdriskClient(target, application="adrisk-auth") as anonymous, pytest.raises(grpc.RpcError) as err:
        invoke(anonymous)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    other = next(r for r in KEYS if r not in (role, "admin"))
    with AdriskClient(target, application="adrisk-auth", api_key=KEYS[other]) as wrong, \
            pytest.raises(grpc.RpcError) as err:
        invoke(wrong)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with AdriskClient(target, application="adrisk-auth", api_key=KEYS[role]) as right:
        if name == "feedback":  # authorised, and then the id is unknown
            with pytest.raises(grpc.RpcError) as err:
                invoke(right)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
        else:
            assert invoke(right) is not None


def test_grpc_health_stays_open(secured, service):
    with grpc.insecure_channel(service.grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), metadata=[("application", "adrisk-auth")], timeout=30)
        assert health.status == health_pb2.HealthCheckResponse.SERVING


def non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.123", 9))  # no packet is sent; the OS picks the outgoing interface
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_with_auth_off_only_loopback_clients_are_served(service):
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback interface")
    port = service.grpc_target.rsplit(":", 1)[1]
    with AdriskClient(f"{address}:{port}") as remote, pytest.raises(grpc.RpcError) as err:
        remote.review({"request_id": f"remote-{uuid.uuid4().hex[:6]}", **REVIEW})
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED and "loopback" in err.value.details()
    with AdriskClient(service.grpc_target) as local:
        assert local.review({"request_id": f"local-{uuid.uuid4().hex[:6]}", **REVIEW}).decision.action


def test_with_auth_off_an_ipv6_loopback_grpc_caller_is_served(service):
    """gRPC writes an IPv6 peer percent-encoded (`ipv6:%5B::1%5D:port`); it is still loopback."""
    port = int(service.grpc_target.rsplit(":", 1)[1])
    try:
        socket.create_connection(("::1", port), timeout=5).close()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with AdriskClient(f"[::1]:{port}") as local6:
        assert local6.review({"request_id": f"local6-{uuid.uuid4().hex[:6]}", **REVIEW}).decision.action


@pytest.mark.slow  # a child interpreter: `adrisk serve` refusing to start
def test_auth_off_refuses_to_serve_beyond_loopback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "commands.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
                         capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "ADRISK_API_KEYS": "", "HOME": str(tmp_path)})
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "refusing to serve on 0.0.0.0: the profile sets `auth: off`" in out.stderr.splitlines()[-1]


def keys_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "commands.cli", "keys", *args], capture_output=True, text=True,
                          timeout=120)


def wait_for_status(request, status: int, what: str) -> httpx.Response:
    deadline = time.monotonic() + 15
    while (resp := request()).status_code != status:
        assert time.monotonic() < deadline, f"{what}: still {resp.status_code} {resp.text[:200]}"
        time.sleep(0.2)
    return resp


def test_auth_on_without_keys_refuses_everyone_and_revoking_the_last_key_never_reopens(service, tmp_path):
    """A fresh ingress with auth on and an empty keys file: 401 for loopback callers over HTTP and
    gRPC; a key added by the CLI works; once it is revoked (the last one) everything is 401 again."""
    from ray import serve

    from commands.launcher import run_extra_ingress

    keys_file = tmp_path / "keys.yaml"
    name, prefix = "adrisk-nokeys", "/nokeys"
    run_extra_ingress(name, prefix,
                      overrides={"auth": {"mode": "keys", "keys_file": str(keys_file), "reload_s": 0.2,
                                          "env": "ADRISK_TEST_NO_KEYS"},
                                 "store": {"path": str(tmp_path / "nokeys.sqlite3")}, "llm": None},
                      ingress_options={"ray_actor_options": {"num_cpus": 0.05}})
    try:
        with httpx.Client(base_url=service.url + prefix, timeout=60) as client:
            def review(key: str | None = None) -> httpx.Response:
                return client.post("/v1/review", json={"request_id": f"nk-{uuid.uuid4().hex[:8]}", **REVIEW},
                                   headers={"x-api-key": key} if key else {})

            assert client.get("/readyz").status_code == 200
            refused = review()
            assert refused.status_code == 401 and refused.json()["error"] == "unauthenticated", refused.text
            assert client.get("/v1/trends").status_code == 401
            with AdriskClient(service.grpc_target, application=name) as anonymous, \
                    pytest.raises(grpc.RpcError) as err:
                anonymous.taxonomy()
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED

            added = keys_cli("add", "--name", "only", "--roles", "score", "--file", str(keys_file))
            assert added.returncode == 0, added.stderr
            key = added.stdout.strip()
            wait_for_status(lambda: review(key), 200, "a new key was not picked up")
            assert review().status_code == 401

            revoked = keys_cli("revoke", "--name", "only", "--file", str(keys_file))
            assert revoked.returncode == 0 and "no active key is left" in revoked.stdout, revoked.stderr
            wait_for_status(lambda: review(key), 401, "the revoked key still works")
            for _ in range(5):  # and the door stays shut for callers without a key
                assert review().status_code == 401
            with AdriskClient(service.grpc_target, application=name) as anonymous, \
                    pytest.raises(grpc.RpcError) as err:
                anonymous.review({"request_id": f"nk-{uuid.uuid4().hex[:6]}", **REVIEW})
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        serve.delete(name)
    logs = "".join(p.read_text(errors="replace") for p in LOGS.glob(f"replica_{name}_*"))
    assert "auth is on and no API key is configured" in logs


@pytest.mark.slow  # a child interpreter per case: the adrisk CLI's error path
@pytest.mark.parametrize(("args", "needle"), [
    (["add", "--name", "x", "--roles", "owner"], "--roles takes a comma-separated list"),
    (["add", "--roles", "score"], "--name is required"),
    (["revoke", "--name", "nobody"], "no active key named 'nobody'"),
    (["list", "--profile", "no-such-profile"], "config file not found"),
    (["list", "--file", "{broken}"], "is not YAML"),
    (["list", "--file", "{bad_role}"], "keys.0.roles.0"),
    (["add", "--name", "x", "--roles", "score", "--file", "/proc/adrisk-no-such-dir/keys.yaml"], "No such file"),
])
def test_bad_keys_arguments_get_one_clear_line(tmp_path, args, needle):
    broken, bad_role = tmp_path / "broken.yaml", tmp_path / "bad-role.yaml"
    broken.write_text("keys: [unclosed\n")
    bad_role.write_text(f"keys: [{{name: a, roles: [owner], sha256: {'0' * 64}}}]\n")
    args = [a.format(broken=broken, bad_role=bad_role) for a in args]
    if "--file" not in args:
        args += ["--file", str(tmp_path / "keys.yaml")]
    out = keys_cli(*args)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0 and needle in out.stderr, out.stderr
    assert out.stderr.startswith("adrisk keys")
