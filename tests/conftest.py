"""One real adrisk service per test session: Ray on 2 CPUs, Serve on 127.0.0.1, real models."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from core.config import CONFIG_DIR
from core.net import free_port

pytest_plugins = ["tests.store_fixtures"]  # `store`, `store_config`, `pg_server`: both store backends


def profile_section(name: str, profile: str = "cpu") -> dict:
    import yaml

    return yaml.safe_load((CONFIG_DIR / "profiles" / f"{profile}.yaml").read_text())[name]


@dataclass
class Service:
    url: str
    store_path: Path
    grpc_target: str
    registry: Path

    def client(self, timeout: float = 60.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    from commands.launcher import start_local, stop_local

    store = tmp_path_factory.mktemp("store") / "decisions.sqlite3"
    registry = tmp_path_factory.mktemp("registry")  # versions the tests train and register
    grpc_port = free_port()
    try:
        url = start_local(
            profile="cpu",
            serve_config=CONFIG_DIR / "serve" / "cpu.yaml",
            host="127.0.0.1",
            port=free_port(),
            grpc_port=grpc_port,
            # Summaries only where a test asks for one (options.summary), to keep the suite quick.
            overrides={
                "store": {"path": str(store)},
                "registry": {"dirs": ["configs/registry", str(registry)], "rollout_poll_s": 0.3},
                # The widest budgets the Serve proxy's 60 s allows: CI's 2 cores are shared with the tests.
                "request_timeout_s": 58,
                "llm": {**profile_section("llm"), "default_summary": "none", "deadline_s": 55,
                        # For quick local iteration on non-LLM tests only; CI always runs the LLM.
                        "enabled": os.environ.get("ADRISK_TEST_SKIP_LLM") != "1"},
            },
        )
        yield Service(url=url, store_path=store, grpc_target=f"127.0.0.1:{grpc_port}", registry=registry)
    finally:
        stop_local()


@pytest.fixture(scope="session")
def client(service: Service) -> Iterator[httpx.Client]:
    with service.client() as c:
        yield c


SERVICE_FIXTURES = {"service", "client"}


def _on_postgres(item: pytest.Item) -> bool:
    """A test on the session's PostgreSQL server (`pg_server`, or the `postgres` arm of `store_config`),
    which starts the server (initdb + postgres) and creates and migrates a database per test."""
    callspec = getattr(item, "callspec", None)
    return "pg_server" in getattr(item, "fixturenames", ()) or (
        callspec is not None and callspec.params.get("store_config") == "postgres")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tiers: a test that needs the running service (or is marked slow) is not `fast`; the rest are
    in-process and make up `make test-fast` (`pytest -m fast`). Tests on PostgreSQL are slow."""
    for item in items:
        if _on_postgres(item):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("slow") or SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            continue
        item.add_marker(pytest.mark.fast)
