"""AdriskConfig: one profile's sections together, checked against each other (category ids, deadlines)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.config.auth import AuthConfig
from core.config.base import _Strict
from core.config.limits import FetchConfig, Limits, OcrConfig, VideoConfig
from core.config.models import HeadsConfig, ImageModelConfig, LlmConfig, TextEncoderConfig
from core.config.moderation import ModerationConfig
from core.config.policy import Policy
from core.config.store import RegistryConfig, StoreConfig
from core.config.taxonomy import Taxonomy, Thresholds


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
    graph: Literal["split", "local_scorer", "fused"] = Field(
        "split", description="where the text path runs (deployments/app.py): `split` — TextEncoder and RiskScorer "
        "replicas of their own (GPUs, many nodes); `local_scorer` — the risk heads (numpy) inside the Ingress; "
        "`fused` — the text encoder too, batched inside the Ingress (small CPU machines: no handle hop for text)"
    )

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

    @model_validator(mode="after")
    def _fused_on_cpu(self) -> AdriskConfig:
        """The fused graph runs the encoder on the Ingress's event loop: a CPU encoder only."""
        if self.graph == "fused" and self.text_encoder.device != "cpu":
            raise ValueError(f"graph: fused keeps the text encoder inside the Ingress, for CPU machines; "
                             f"text_encoder.device is {self.text_encoder.device!r}: use graph: split")
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
