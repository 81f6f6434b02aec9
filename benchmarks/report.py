"""docs/benchmarks.md: each harness owns one section between `<!-- bench:KEY -->` markers."""

from __future__ import annotations

from pathlib import Path

FILE_HEADER = "# adrisk benchmarks\n\nGenerated sections; re-run the named command to refresh one.\n"


def write_section(path: Path, section: str, key: str) -> None:
    """Write or replace the section between `<!-- bench:KEY:start/end -->` markers."""
    mark_start, mark_end = f"<!-- bench:{key}:start -->", f"<!-- bench:{key}:end -->"
    block = f"{mark_start}\n{section}\n{mark_end}"
    text = path.read_text(encoding="utf-8") if path.exists() else FILE_HEADER
    start, end = text.find(mark_start), text.find(mark_end)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(mark_end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def publish(text: str, heading: str, key: str, out: str | Path | None) -> None:
    """Print a harness's report; with --out, also make it the `## heading` section KEY of that file."""
    print(text)
    if out:
        write_section(Path(out), f"## {heading}\n\n{text}", key)
