"""The taxonomy: categories, their severities, enforcement and review/reject thresholds."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.config.base import _Strict


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
