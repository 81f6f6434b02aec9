"""Checks on a Prometheus text exposition: the real `promtool check metrics` (Prometheus' own
linter, unpacked by `make system-deps`), the sample names it holds, and the series the Grafana
dashboard queries."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.config import PROJECT_ROOT

LOCAL_PROMTOOL = PROJECT_ROOT / "var" / "tools" / "bin" / "promtool"  # where `make system-deps` puts it
DASHBOARD = PROJECT_ROOT / "deployments" / "grafana" / "adrisk.json"


def promtool() -> str:
    found = shutil.which("promtool") or (str(LOCAL_PROMTOOL) if LOCAL_PROMTOOL.is_file() else None)
    if not found:
        pytest.fail(f"promtool not found on PATH or at {LOCAL_PROMTOOL}: run `make system-deps` "
                    "(`make test` does), which unpacks it from Debian's prometheus package", pytrace=False)
    return found


def promtool_complaints(text: str) -> str:
    """What `promtool check metrics` says about the exposition: '' when it passes cleanly."""
    done = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    said = (done.stdout + done.stderr).strip()
    return f"exit {done.returncode}: {said}" if done.returncode or said else ""


def samples(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def sample_names(text: str) -> set[str]:
    return {s.name for s in samples(text)}


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    return sum(s.value for s in samples(text)
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def dashboard_series() -> set[str]:
    """Every series name a panel of deployments/grafana/adrisk.json queries (e.g. `..._bucket`)."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return {name for expr in exprs for name in re.findall(r"\badrisk_[a-z0-9_]+", expr)}
