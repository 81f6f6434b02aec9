"""The OpenAI-compatible moderation endpoint (/v1/moderations): OpenAI's request, result and error shapes,
so its clients work unchanged, with adrisk's own verdict alongside."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from core.schemas.base import _Base64Media, _Strict
from core.schemas.requests import LandingPage
from core.schemas.responses import Decision

# The mapping from adrisk's categories is configs/moderation.yaml (serving/moderation.py applies it).
ModerationInputType = Literal["text", "image"]


class ModerationTextPart(_Strict):
    type: Literal["text"]
    text: str


class ModerationImageUrl(_Strict):
    url: str = Field(description="A data: URL (`data:image/png;base64,…`), or an http(s) URL where the "
                     "profile enables fetching (the landing-page SSRF rules apply).")

    @field_validator("url")
    @classmethod
    def _data_or_web(cls, url: str) -> str:
        if url.startswith("data:"):
            header, comma, payload = url.partition(",")
            media_type, *params = header.removeprefix("data:").split(";")
            if not comma or "base64" not in params:
                raise ValueError("a data: URL must be base64: data:image/<type>;base64,<data>")
            if media_type and not media_type.lower().startswith("image/"):
                raise ValueError(f"a data: URL must hold an image, not {media_type}")
            _Base64Media._is_base64(payload)
            return url
        LandingPage._web_address(url[:8192])
        if len(url) > 8192:
            raise ValueError("an http(s) image URL is at most 8192 characters")
        return url

    def base64_data(self) -> str | None:
        """The base64 payload of a data: URL; None for an http(s) URL (fetched, where enabled)."""
        return self.url.partition(",")[2] if self.url.startswith("data:") else None


class ModerationImagePart(_Strict):
    type: Literal["image_url"]
    image_url: ModerationImageUrl


ModerationPart = Annotated[ModerationTextPart | ModerationImagePart, Field(discriminator="type")]


def _input_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "parts" if any(isinstance(v, dict) for v in value) else "strings"
    return None


ModerationInput = Annotated[
    Annotated[str, Tag("string")]
    | Annotated[list[str], Field(min_length=1), Tag("strings")]
    | Annotated[list[ModerationPart], Field(min_length=1), Tag("parts")],
    Discriminator(_input_kind, custom_error_type="input_shape",
                  custom_error_message="input must be a string, an array of strings, or an array of "
                  "{type: text | image_url} parts"),
]


class ModerationRequest(_Strict):
    """OpenAI's moderation request. A string or an array of strings gets one result per string; an
    array of parts (text and images) is one input and gets one result."""

    model: str | None = Field(None, description="A model name or alias from configs/moderation.yaml "
                              "(omni-moderation-latest, text-moderation-latest, ...); absent: its default_model.")
    input: ModerationInput


T = TypeVar("T")


class OpenAICategories(BaseModel, Generic[T]):
    """One value per OpenAI moderation category, keyed by OpenAI's names (`harassment/threatening`).
    The field aliases are the one list of those names: configs/moderation.yaml must map each of them."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    harassment: T
    harassment_threatening: T = Field(alias="harassment/threatening")
    hate: T
    hate_threatening: T = Field(alias="hate/threatening")
    illicit: T
    illicit_violent: T = Field(alias="illicit/violent")
    self_harm: T = Field(alias="self-harm")
    self_harm_intent: T = Field(alias="self-harm/intent")
    self_harm_instructions: T = Field(alias="self-harm/instructions")
    sexual: T
    sexual_minors: T = Field(alias="sexual/minors")
    violence: T
    violence_graphic: T = Field(alias="violence/graphic")


OPENAI_CATEGORIES: tuple[str, ...] = tuple(f.alias or name for name, f in OpenAICategories.model_fields.items())


class AdriskVerdict(BaseModel):
    """adrisk's own answer for one moderation input: all of its categories and its decision."""

    request_id: str = Field(description="The review's id (not stored: moderation calls are never recorded).")
    scores: dict[str, float] = Field(description="Final risk per adrisk category (all of them).")
    decision: Decision
    model_versions: dict[str, str]


class ModerationResult(BaseModel):
    flagged: bool = Field(description="True when any category is flagged.")
    categories: OpenAICategories[bool]
    category_scores: OpenAICategories[float]
    category_applied_input_types: OpenAICategories[list[ModerationInputType]]
    adrisk: AdriskVerdict | None = Field(
        None, description="adrisk's scores and decision; null for an input with nothing to score (empty text)."
    )


class ModerationResponse(BaseModel):
    id: str
    model: str = Field(description="The model the request's name resolved to.")
    results: list[ModerationResult]


class OpenAIError(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    """The error shape of /v1/moderations (OpenAI's); adrisk's own routes answer ErrorBody."""

    error: OpenAIError
