"""ADRISK_STORE_URL: a deployment's database URL from the environment (a Kubernetes Secret in
deployments/kuberay/rayservice.yaml) becomes the profile's store.url, under the same rules."""

from __future__ import annotations

import pytest

from core.config import STORE_URL_ENV, load_config

URL = "postgresql://db.internal:5432/adrisk?sslmode=verify-full"


def test_the_environment_names_the_store_and_the_rest_of_the_section_stays(monkeypatch):
    monkeypatch.delenv(STORE_URL_ENV, raising=False)
    assert load_config("cpu").store.backend == "sqlite"
    monkeypatch.setenv(STORE_URL_ENV, f" {URL}\n")  # a Secret's value often ends with a newline
    store = load_config("gpu").store
    assert store.backend == "postgres" and store.url == URL
    assert store.path == "var/decisions.sqlite3" and store.pool_size == 8


def test_an_explicit_store_override_still_wins(monkeypatch):
    monkeypatch.setenv(STORE_URL_ENV, URL)
    store = load_config("cpu", {"store": {"path": "/tmp/x.sqlite3"}}).store
    assert store.backend == "sqlite" and store.path == "/tmp/x.sqlite3"


@pytest.mark.parametrize("bad", ["postgresql://adrisk:secret@db:5432/adrisk", "mysql://db/adrisk",
                                 "postgresql://db:5432/"])
def test_a_bad_url_from_the_environment_is_refused_at_load(monkeypatch, bad):
    monkeypatch.setenv(STORE_URL_ENV, bad)
    with pytest.raises(ValueError, match=r"store\.url"):
        load_config("cpu")
