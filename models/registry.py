"""The model registry: one manifest on disk per component version (Triton-style).

`configs/registry/<component>/<version>.yaml` holds what the repository ships; a second, local
directory (`var/registry` by default) holds versions trained on this machine. Each manifest names
its artifact (a project path, `package:<module>`, or `wheel:<dist>==<version>`), the artifact's SHA-256
(a tree hash for a directory; the installed distribution's version for a package; the fetched
wheel's own hash for a wheel), the profile, and metrics. A
version is served only if its artifact still matches its manifest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from core.config import AdriskConfig, resolve_project_path
from models.model_files import WHEEL_PREFIX, wheel_identity

Component = Literal["text_heads", "page_head", "policy", "text_encoder", "image_model", "llm"]
COMPONENTS: tuple[str, ...] = ("text_heads", "page_head", "policy", "text_encoder", "image_model", "llm")


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    component: Component
    name: str
    version: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    artifact: str = Field(description="project-relative path, absolute path, package:<module> or wheel:<dist>==<ver>")
    sha256: str = Field(description="tree hash of the artifact, package:<dist>==<version>, or the wheel's sha256")
    profile: str = "cpu"
    metrics: dict[str, Any] = Field(default_factory=dict)
    created: str = ""
    notes: str = ""

    @property
    def ident(self) -> str:
        return f"{self.name}@{self.version}"


def tree_sha256(path: Path) -> str:
    """SHA-256 over (relative path, file SHA-256) of every file, sorted: a directory's identity."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for f in files:
        rel = f.name if path.is_file() else f.relative_to(path).as_posix()
        digest.update(rel.encode() + b"\0" + hashlib.sha256(f.read_bytes()).hexdigest().encode() + b"\n")
    return digest.hexdigest()


def artifact_identity(artifact: str) -> str:
    if artifact.startswith(WHEEL_PREFIX):
        return wheel_identity(artifact)
    if artifact.startswith("package:"):
        module = artifact.split(":", 2)[1]
        for dist in importlib.metadata.packages_distributions().get(module, []):
            return f"package:{dist}=={importlib.metadata.version(dist)}"
        raise FileNotFoundError(f"{artifact}: module {module!r} is not installed")
    path = resolve_project_path(artifact)
    if not path.exists():
        raise FileNotFoundError(f"artifact {artifact} does not exist")
    return tree_sha256(path)


class RegistryError(ValueError):
    pass


class Registry:
    def __init__(self, dirs: list[Path]) -> None:
        self.dirs = [Path(d) for d in dirs]

    @classmethod
    def from_config(cls, config: AdriskConfig) -> Registry:
        return cls([resolve_project_path(d) for d in config.registry.dirs])

    def manifests(self, component: str | None = None) -> list[Manifest]:
        found: dict[tuple[str, str], Manifest] = {}
        for root in self.dirs:  # later directories (local) may add versions, never replace shipped ones
            for path in sorted(root.glob(f"{component or '*'}/*.yaml")):
                manifest = Manifest.model_validate(yaml.safe_load(path.read_text()))
                key = (manifest.component, manifest.version)
                if key in found:
                    raise RegistryError(f"{path}: {manifest.component} version {manifest.version} is registered twice")
                if path.stem != manifest.version or path.parent.name != manifest.component:
                    raise RegistryError(f"{path}: file name must be <component>/<version>.yaml")
                found[key] = manifest
        return sorted(found.values(), key=lambda m: (m.component, m.version))

    def get(self, component: str, version: str) -> Manifest:
        for manifest in self.manifests(component):
            if manifest.version == version:
                return manifest
        known = [m.version for m in self.manifests(component)]
        raise RegistryError(f"no {component} version {version!r} in the registry (known: {known})")

    def verify(self, manifest: Manifest) -> None:
        actual = artifact_identity(manifest.artifact)
        if actual != manifest.sha256:
            raise RegistryError(f"{manifest.component}@{manifest.version}: artifact {manifest.artifact} does not "
                                f"match its manifest (sha256 {actual[:16]}… ≠ {manifest.sha256[:16]}…)")

    def register(self, component: str, version: str, artifact: str, name: str | None = None, profile: str = "cpu",
                 notes: str = "", into: Path | None = None) -> Manifest:
        if any(m.version == version for m in self.manifests(component)):
            raise RegistryError(f"{component} version {version} already exists: versions are immutable")
        metrics: dict[str, Any] = {}
        path = None if artifact.startswith(("package:", WHEEL_PREFIX)) else resolve_project_path(artifact)
        if path is not None and (path / "manifest.json").exists():
            doc = json.loads((path / "manifest.json").read_text())
            name = name or doc.get("name")
            metrics = {h: m.get("metrics", {}).get("auprc") for h, m in doc.get("heads", {}).items()}
            if "url_head" in doc:
                metrics["url_head"] = doc["url_head"].get("metrics", {}).get("auprc")
            metrics = {k: v for k, v in metrics.items() if v is not None}
        manifest = Manifest(
            component=component, name=name or Path(artifact).name, version=version, artifact=artifact,
            sha256=artifact_identity(artifact), profile=profile, metrics=metrics,
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), notes=notes,
        )
        out = (into or self.dirs[-1]) / component / f"{version}.yaml"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump(manifest.model_dump(), sort_keys=False, allow_unicode=True))
        return manifest
