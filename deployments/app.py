"""The application graph: Ingress → (ImageRiskModel ‖ TextEncoder) → RiskScorer → LlmDiagnoser (optional).

`build_app` is the Serve application builder named in configs/serve/*.yaml
(`import_path: deployments.app:build_app`), so `serve deploy` on a cluster and `adrisk serve`
locally deploy the same graph. Deployment options (replicas, CPUs, GPUs, queue bounds, batch
sizes) come from the Serve config; the builder only wires the graph.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from ray.serve import Application

from core.config import load_config
from deployments.ingress import AdriskIngress
from deployments.llm import LlmDiagnoser
from deployments.models import ImageRiskModel, RiskScorer, TextEncoder

DEPLOYMENTS = {
    "Ingress": AdriskIngress,
    "ImageRiskModel": ImageRiskModel,
    "TextEncoder": TextEncoder,
    "RiskScorer": RiskScorer,
    "LlmDiagnoser": LlmDiagnoser,
}


class AppArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: str = "cpu"
    overrides: dict[str, Any] = Field(default_factory=dict)
    deployment_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-deployment .options(); the Serve config wins on a cluster"
    )
    models_app: str | None = Field(
        None, description="build only an Ingress that uses this running app's model deployments"
    )


def build_app(args: dict[str, Any] | AppArgs) -> Application:
    args = args if isinstance(args, AppArgs) else AppArgs.model_validate(args or {})
    opts = args.deployment_options
    unknown = set(opts) - set(DEPLOYMENTS)
    if unknown:
        raise ValueError(f"unknown deployments in options: {sorted(unknown)}")

    def bind(name: str, *extra: Any):
        deployment = DEPLOYMENTS[name]
        if name in opts:
            deployment = deployment.options(**opts[name])
        return deployment.bind(*extra, args.profile, args.overrides or None)

    ingress = DEPLOYMENTS["Ingress"].options(**opts.get("Ingress", {}))
    if args.models_app:
        return ingress.bind(None, None, None, None, args.profile, args.overrides or None, args.models_app)
    config = load_config(args.profile, args.overrides or None)
    llm = bind("LlmDiagnoser") if config.llm is not None and config.llm.enabled else None
    return ingress.bind(bind("ImageRiskModel"), bind("TextEncoder"), bind("RiskScorer"), llm,
                        args.profile, args.overrides or None)
