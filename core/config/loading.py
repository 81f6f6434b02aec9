"""Loading a profile: the YAML files it names, environment overrides, paths resolved against the
project, and the checks against the Serve config."""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

import yaml

from core.config.base import CONFIG_DIR, PROJECT_ROOT
from core.config.profile import AdriskConfig
from core.config.store import STORE_URL_ENV

DEVICE_OVERRIDE_ENV = "ADRISK_DEVICE_OVERRIDE"
_HALF = {"float16", "bfloat16"}
log = logging.getLogger(__name__)
_warned: set[str] = set()

# PyYAML's LibYAML-backed safe loader where it is built in (about 10x faster, the same documents);
# every profile load reads the taxonomy, the policy and the moderation mapping.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> Any:
    try:
        with path.open("r", encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_SafeLoader)
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


def override_devices(doc: dict[str, Any], device: str) -> list[str]:
    """ADRISK_DEVICE_OVERRIDE=cpu: a test and development switch that runs a GPU profile on CPU.

    Every model section's `device` becomes `cpu`, float16/bfloat16 become float32 (half precision is
    slow or unsupported on CPU), and ONNX Runtime models keep only the CPU provider. The models, their
    shapes and every code path stay the profile's: this is how tests/test_gpu_profile_e2e.py serves the
    gpu profile on a CPU-only machine. Never set it in a deployment (`load_config` logs a warning
    once per process when it changes something). Returns what it changed, one line per change.
    """
    if device != "cpu":
        raise ValueError(f"{DEVICE_OVERRIDE_ENV}={device!r}: the only override is `cpu`")
    changed = []
    sections = [("text_encoder", doc.get("text_encoder"))]
    sections += [(f"image_models[{i}]", m) for i, m in enumerate(doc.get("image_models") or [])]
    sections.append(("llm", doc.get("llm")))
    for name, section in sections:
        if not isinstance(section, dict):
            continue
        if section.get("device", "cpu") != "cpu":
            changed.append(f"{name}.device {section['device']} -> cpu")
            section["device"] = "cpu"
        if section.get("dtype") in _HALF:
            changed.append(f"{name}.dtype {section['dtype']} -> float32")
            section["dtype"] = "float32"
        providers = section.get("providers")
        if providers and providers != ["CPUExecutionProvider"]:
            changed.append(f"{name}.providers {providers} -> ['CPUExecutionProvider']")
            section["providers"] = ["CPUExecutionProvider"]
    return changed


def load_config(profile: str = "cpu", overrides: dict[str, Any] | None = None) -> AdriskConfig:
    """Load a profile by name (configs/profiles/NAME.yaml) or by path.

    ADRISK_STORE_URL, when set, becomes the profile's `store.url` (the deployment's database, from a
    secret; the rest of `store` stays). `overrides` are merged into the profile document after it
    (tests use them for the store path and for a modified policy; a `store` override replaces the
    whole section); `policy_doc` in overrides replaces the policy file entirely.
    ADRISK_DEVICE_OVERRIDE=cpu (tests and development only) then moves every model to CPU at
    float32 (`override_devices`).
    """
    path = profile_path(profile)
    doc = dict(_read_yaml(path) or {})
    store_url = os.environ.get(STORE_URL_ENV, "").strip()
    if store_url:
        doc["store"] = {**(doc.get("store") or {}), "url": store_url}
    overrides = dict(overrides or {})
    policy_doc = overrides.pop("policy_doc", None)
    doc.update(overrides)
    device = os.environ.get(DEVICE_OVERRIDE_ENV, "").strip()
    if device:
        doc = copy.deepcopy(doc)  # the overrides' sections are the caller's objects
        changed = override_devices(doc, device)
        message = (f"{DEVICE_OVERRIDE_ENV}={device} (tests and development only): profile {path.stem} "
                   f"runs on CPU: {'; '.join(changed)}")
        if changed and message not in _warned:  # once per process: every start loads the profile a few times
            _warned.add(message)
            log.warning(message)
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
