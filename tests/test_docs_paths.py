"""Every file path the README and docs/*.md name exists, so a moved module cannot leave a dangling
pointer behind. Fast: reads text only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A relative path with at least one folder and a file extension, not part of a URL or a longer path.
PATH = re.compile(r"(?<![\w./:@-])((?:\.\./)?(?:[A-Za-z0-9_.-]+/)+[A-Za-z0-9_.-]+\."
                  r"(?:py|pyi|yaml|yml|toml|md|proto|sql|txt|lock|in|json|jsonl|sh|cfg))(?![\w/-])")
# Paths the docs name as what a command writes (it does not exist until someone runs it).
OUTPUTS = {
    "configs/policy/v3.yaml", "policy/v3.yaml",  # README: `adrisk calibrate --out ...`, then `ab`
    "docs/eval/results.jsonl",  # `adrisk eval --report docs/eval` writes it (git-ignored: per-example rows)
}
# Where a relative path in a command line may be resolved from besides the project root: configs/
# (config arguments such as `--a policy/v2.yaml`) and serving/ (the proto beside its generated code).
BASES = ("", "configs", "serving")


def _named_paths(doc: Path) -> list[tuple[int, str]]:
    return [(n, m.group(1)) for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1)
            for m in PATH.finditer(line)]


def _exists(doc: Path, path: str) -> bool:
    if path in OUTPUTS or path.startswith(("var/", "../shared/")):  # local state and the data beside the repo
        return True
    return (doc.parent / path).exists() or any((ROOT / base / path).exists() for base in BASES)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_a_doc_names_exists(doc: Path):
    missing = [f"{doc.relative_to(ROOT)}:{n}: {path}" for n, path in _named_paths(doc) if not _exists(doc, path)]
    assert not missing, "dangling paths (moved or renamed?):\n" + "\n".join(missing)


def test_the_check_sees_paths():
    """The pattern finds the paths it is meant to (guards against a regex that matches nothing)."""
    assert ("core/config/loading.py", "docs/benchmarks.md") == tuple(
        m.group(1) for m in PATH.finditer("see `core/config/loading.py` and docs/benchmarks.md, not https://x.io/a/b.py"))
