"""configs/moderation.yaml: the OpenAI-compatible endpoint's model names and category mapping."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.config.base import _Strict


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
