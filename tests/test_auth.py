"""serving/auth.py without a service: the auth mode as config data, a key ring that never lets a
caller through for want of keys, the bind check, and loopback detection on real peer strings."""

from __future__ import annotations

import logging

import pytest
import yaml
from pydantic import ValidationError

from core.config import AuthConfig, load_config
from core.errors import PermissionDenied, Unauthenticated
from serving.auth import (
    KeyRing,
    check_bind,
    hash_key,
    is_loopback_host,
    is_loopback_peer,
    new_key,
    read_keys_file,
    write_keys_file,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Warnings(logging.Handler):
    """The key ring's log lines (Ray may stop the `ray.serve` logger propagating to pytest's)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def warnings():
    handler = Warnings()
    logger = logging.getLogger("ray.serve")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


def config_with(keys_file, mode: str = "keys", env: str = "ADRISK_TEST_NO_SUCH_ENV"):
    return load_config("cpu", {"auth": {"mode": mode, "keys_file": str(keys_file), "env": env, "reload_s": 1}})


@pytest.mark.parametrize(("text", "mode"), [
    ("auth: off", "off"), ("auth: 'off'", "off"), ("auth: keys", "keys"), ("auth: {mode: off}", "off"),
    ("auth: {mode: keys, reload_s: 2}", "keys"), ("{}", "keys"),
])
def test_the_auth_mode_is_config_data(text, mode):
    doc = yaml.safe_load(text)
    assert AuthConfig.model_validate(doc.get("auth", {})).mode == mode


@pytest.mark.parametrize("text", ["auth: maybe", "auth: 0", "auth: {mode: none}", "auth: {mode: off, extra: 1}"])
def test_an_unknown_auth_setting_is_refused_at_load(text):
    with pytest.raises(ValidationError):
        AuthConfig.model_validate(yaml.safe_load(text)["auth"])


def test_the_cpu_profile_is_loopback_development_and_the_gpu_profile_needs_keys():
    assert load_config("cpu").auth.mode == "off"
    assert load_config("gpu").auth.mode == "keys"


def test_with_auth_on_and_no_key_even_loopback_callers_are_refused(tmp_path, warnings):
    ring = KeyRing(config_with(tmp_path / "keys.yaml"))
    with pytest.raises(Unauthenticated):
        ring.check(None, "score", peer_is_loopback=True)
    with pytest.raises(Unauthenticated):
        ring.check(new_key(), "score", peer_is_loopback=True)
    assert any("no API key is configured" in line for line in warnings)


def test_revoking_the_last_key_never_reopens_access(tmp_path, warnings):
    path, key, clock = tmp_path / "keys.yaml", new_key(), Clock()
    write_keys_file(path, [{"name": "only", "roles": ["admin"], "sha256": hash_key(key)}])
    ring = KeyRing(config_with(path), clock=clock)
    assert ring.check(key, "score", peer_is_loopback=True) == "only"
    assert not warnings
    write_keys_file(path, [{"name": "only", "roles": ["admin"], "sha256": hash_key(key),
                            "revoked": "2026-01-01T00:00:00+00:00"}])
    clock.now += 2
    for presented in (key, None):
        with pytest.raises(Unauthenticated):
            ring.check(presented, "score", peer_is_loopback=True)
    assert len([line for line in warnings if "no API key is configured" in line]) == 1


def test_a_broken_keys_file_fails_closed(tmp_path, warnings):
    path, key, clock = tmp_path / "keys.yaml", new_key(), Clock()
    write_keys_file(path, [{"name": "only", "roles": ["score"], "sha256": hash_key(key)}])
    ring = KeyRing(config_with(path), clock=clock)
    assert ring.check(key, "score", peer_is_loopback=False) == "only"
    path.write_text("keys:\n  - {name: only, roles: [score], sha256: not-a-hash}\n")
    clock.now += 2
    with pytest.raises(Unauthenticated):
        ring.check(key, "score", peer_is_loopback=True)
    assert any("sha256" in line for line in warnings)
    with pytest.raises(ValueError, match=r"keys file .*keys\.0\.sha256"):
        KeyRing(config_with(path))  # at start-up: the replica does not start


@pytest.mark.parametrize(("text", "needle"), [
    ("keys: [{name: a, roles: [owner], sha256: " + "0" * 64 + "}]", "keys.0.roles.0"),
    ("keys: [{name: a, roles: [], sha256: " + "0" * 64 + "}]", "keys.0.roles"),
    ("keys: [{roles: [score], sha256: " + "0" * 64 + "}]", "keys.0.name"),
    ("keys: {a: 1}", "keys"),
    ("- just a list", "body"),
    ("keys: [unclosed", "not YAML"),
])
def test_the_keys_file_is_validated_at_load(tmp_path, text, needle):
    path = tmp_path / "keys.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        read_keys_file(path)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_auth_off_serves_loopback_callers_only(tmp_path):
    ring = KeyRing(config_with(tmp_path / "keys.yaml", mode="off"))
    assert ring.authorize([], "ipv4:127.0.0.1:50000", "admin") == "anonymous"
    assert ring.authorize([], "::1", "admin") == "anonymous"
    with pytest.raises(PermissionDenied, match="loopback"):
        ring.authorize([("x-api-key", new_key())], "ipv4:192.0.2.7:50000", "score")


def test_auth_off_refuses_a_non_loopback_bind_and_auth_on_without_keys_warns(tmp_path, monkeypatch):
    off = config_with(tmp_path / "keys.yaml", mode="off")
    assert check_bind("127.0.0.1", off) is None
    for host in ("0.0.0.0", "::", "192.0.2.7"):
        with pytest.raises(SystemExit, match=f"refusing to serve on {host}: .*auth: off"):
            check_bind(host, off)
    on = config_with(tmp_path / "keys.yaml", env="ADRISK_TEST_KEYS")
    monkeypatch.delenv("ADRISK_TEST_KEYS", raising=False)
    assert "401" in check_bind("0.0.0.0", on)
    monkeypatch.setenv("ADRISK_TEST_KEYS", f"ops:admin:{new_key()}")
    assert check_bind("0.0.0.0", on) is None


@pytest.mark.parametrize(("peer", "loopback"), [
    ("ipv4:127.0.0.1:50000", True), ("ipv4:127.3.4.5:1", True), ("ipv6:[::1]:50000", True),
    ("ipv6:%5B::1%5D:50000", True), ("ipv6:[::ffff:127.0.0.1]:50000", True), ("unix:/tmp/grpc.sock", True),
    ("127.0.0.1", True), ("::1", True), ("localhost", True), ("::ffff:127.0.0.1", True),
    ("ipv4:10.0.0.1:50000", False), ("ipv4:128.0.0.1:50000", False), ("ipv6:[2001:db8::1]:50000", False),
    ("ipv6:%5B::ffff:10.0.0.1%5D:1", False), ("192.0.2.7", False), ("127.evil.example", False), ("", False),
])
def test_loopback_peers(peer, loopback):
    assert is_loopback_peer(peer) is loopback


def test_loopback_hosts():
    assert is_loopback_host("127.0.0.1") and is_loopback_host("[::1]") and is_loopback_host("LOCALHOST")
    assert not is_loopback_host("0.0.0.0") and not is_loopback_host("::") and not is_loopback_host("example.com")
