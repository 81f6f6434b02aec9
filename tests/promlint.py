"""The checks of `promtool check metrics` (Prometheus' promlint), for machines without promtool:
parseable exposition, HELP on every family, snake_case names and labels, counters ending in
_total, no reserved suffixes on non-histograms, base units (seconds, bytes) only."""

from __future__ import annotations

import re
import shutil
import subprocess

from prometheus_client.parser import text_string_to_metric_families

SNAKE = re.compile(r"^[a-z_:][a-z0-9_:]*$")
NON_BASE_UNITS = ("_milliseconds", "_microseconds", "_nanoseconds", "_minutes", "_hours", "_days", "_kilobytes",
                  "_megabytes", "_gigabytes", "_percent")


def lint(text: str) -> list[str]:
    problems = []
    helps = dict(re.findall(r"^# HELP (\S+) (.*)$", text, re.M))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    for name, kind in types.items():
        if not helps.get(name, "").strip():
            problems.append(f"{name}: no help text")
        if not SNAKE.match(name):
            problems.append(f"{name}: metric names should be snake_case")
        if kind == "counter" and not name.endswith("_total"):
            problems.append(f"{name}: counter metrics should have _total suffix")
        if kind not in ("histogram", "summary") and name.endswith(("_bucket", "_count", "_sum")):
            problems.append(f"{name}: non-histogram metrics should not have _bucket/_count/_sum suffix")
        if any(unit in name for unit in NON_BASE_UNITS):
            problems.append(f"{name}: use base units")
    for family in text_string_to_metric_families(text):  # raises on a malformed exposition
        for sample in family.samples:
            problems += [f"{sample.name}: label {label} should be snake_case"
                         for label in sample.labels if not SNAKE.match(label)]
    if shutil.which("promtool"):  # the real thing, where installed
        done = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        if done.returncode != 0:
            problems.append(f"promtool: {done.stdout}{done.stderr}")
    return problems
