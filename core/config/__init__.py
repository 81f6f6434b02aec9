"""The one configuration object threaded through every layer (vLLM-style).

A profile YAML under configs/profiles/ names the models, the taxonomy, the policy version, the
limits and the decision store. Everything is validated at load so a bad config fails at start-up
with a message, never at request time.

One module per concern; every public name is re-exported here, so `from core.config import X` is
the way to import any of them:

- base: PROJECT_ROOT, CONFIG_DIR and the strict (frozen, no extra keys) base model
- taxonomy: categories and their thresholds
- policy: precedence, suspension, per-category thresholds, fusion rules, known-bad matching
- models: text encoder, image models, heads, the LLM
- limits: request limits, URL fetching, OCR, video sampling
- store: the decision store and the model registry's directories
- auth: API keys
- moderation: the OpenAI-compatible endpoint's models and category mapping
- profile: AdriskConfig, all of the above checked against each other
- loading: load_config and path resolution
"""

from core.config.auth import AuthConfig
from core.config.base import CONFIG_DIR, PROJECT_ROOT
from core.config.limits import FetchConfig, Limits, OcrConfig, VideoConfig
from core.config.loading import (
    check_proxy_timeouts,
    config_to_dict,
    load_config,
    profile_path,
    resolve_config_path,
    resolve_model_source,
    resolve_project_path,
)
from core.config.models import HeadsConfig, ImageModelConfig, LlmConfig, TextEncoderConfig
from core.config.moderation import ModerationConfig, ModerationMapping, ModerationModel
from core.config.policy import FUSION_FACTS, Condition, Fusion, FusionRule, KnownBadRule, Policy, SuspendRule
from core.config.profile import AdriskConfig
from core.config.store import STORE_URL_ENV, RegistryConfig, StoreConfig
from core.config.taxonomy import Category, Taxonomy, Thresholds

__all__ = [
    "CONFIG_DIR", "FUSION_FACTS", "PROJECT_ROOT", "STORE_URL_ENV",
    "AdriskConfig", "AuthConfig", "Category", "Condition", "FetchConfig", "Fusion", "FusionRule", "HeadsConfig",
    "ImageModelConfig", "KnownBadRule", "Limits", "LlmConfig", "ModerationConfig", "ModerationMapping",
    "ModerationModel", "OcrConfig", "Policy", "RegistryConfig", "StoreConfig", "SuspendRule", "Taxonomy",
    "TextEncoderConfig", "Thresholds", "VideoConfig",
    "check_proxy_timeouts", "config_to_dict", "load_config", "profile_path", "resolve_config_path",
    "resolve_model_source", "resolve_project_path",
]
