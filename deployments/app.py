"""The application graph: Ingress → (ImageRiskModel ‖ TextEncoder) → RiskScorer → LlmDiagnoser (optional).

`build_app` is the Serve application builder named in configs/serve/*.yaml
(`import_path: deployments.app:build_app`), so `serve deploy` on a cluster and `adrisk serve`
locally deploy the same graph. The profile's `graph` says where the text path runs: `split` (the
picture above), `local_scorer` (the RiskScorer's numpy heads inside the Ingress: one hop fewer per
call) or `fused` (the text encoder too, behind the same @serve.batch: no handle hop for text; for
small CPU machines, refused at load for a GPU encoder). Deployment options (replicas, CPUs, GPUs,
queue bounds, batch sizes) come from the Serve config; the builder only wires the graph.

One config: the builder loads and validates the profile (plus overrides) once and binds that
AdriskConfig object to every deployment. Ray pickles bound arguments into the application, so a
replica that restarts later (a crash, a new node) gets the same config as its peers, whatever
happened to the YAML on disk since; a YAML edit takes effect with the next deploy. With
`models_app`, the app is only an Ingress (e.g. a candidate policy) that calls another running
app's model deployments: its own config covers the ingress's work (policy, limits, store), the
models run on the config their own app was built with.
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

    config = load_config(args.profile, args.overrides or None)

    def bind(name: str, *extra: Any):
        deployment = DEPLOYMENTS[name]
        if name in opts:
            deployment = deployment.options(**opts[name])
        return deployment.bind(*extra, config)

    if args.models_app:
        return DEPLOYMENTS["Ingress"].options(**opts.get("Ingress", {})).bind(
            None, None, None, None, config, args.models_app)
    llm = bind("LlmDiagnoser") if config.llm is not None and config.llm.enabled else None
    # The profile's `graph`: which of the text path's replicas exist (None: the Ingress runs that
    # engine itself, deployments/models.py LocalEncoder / LocalScorer).
    text = bind("TextEncoder") if config.graph != "fused" else None
    scorer = bind("RiskScorer") if config.graph == "split" else None
    return bind("Ingress", bind("ImageRiskModel"), text, scorer, llm)
