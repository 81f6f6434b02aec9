"""The LLM's diagnosis: what it writes (LlmDiagnosis), the same held to the models' evidence (Diagnosis),
and the status of the summary in a response."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

SEVERITIES = ["low", "medium", "high", "critical"]
MAX_VIOLATIONS = 2
SUMMARY_WORDS = 60


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class Violation(BaseModel):
    """One policy violation the LLM names, with evidence quoted from the inputs."""

    model_config = ConfigDict(extra="forbid")

    category: str
    severity: Severity
    evidence: str = Field(max_length=300)
    rationale: str = Field(max_length=300)


def _first_words(value: str) -> str:
    words = value.split()
    return " ".join(words[:SUMMARY_WORDS]) if len(words) > SUMMARY_WORDS else value


class LlmDiagnosis(BaseModel):
    """What the LLM writes (guided decoding to this schema, validated again here), before it is held
    to the models' evidence (models/diagnosis.py: check_against_evidence → Diagnosis)."""

    model_config = ConfigDict(extra="forbid")

    violations: list[Violation] = Field(max_length=MAX_VIOLATIONS)
    summary: str = Field(max_length=600)
    confidence: float = Field(ge=0, le=1)

    _short = field_validator("summary")(_first_words)


class UnsupportedViolation(Violation):
    """A violation the LLM named in a category the models scored below its review threshold: shown
    so a reviewer sees what the LLM claimed, never counted as a finding."""

    model_score: float = Field(description="The category's final score for this ad.")
    review_threshold: float = Field(description="The category's review threshold in the policy in force.")
    reason: str


class Consistency(StrEnum):
    consistent = "consistent"  # every named violation is backed by the models (or none named, none flagged)
    partly_unsupported = "partly_unsupported"  # some named violations are backed, some are not
    unsupported = "unsupported"  # nothing the diagnosis claims is backed: read its summary as noise
    unchecked = "unchecked"  # a diagnosis stored before the evidence check existed (a replayed id)


class Diagnosis(BaseModel):
    """The LLM's diagnosis held to the evidence: only what the models back counts as a finding."""

    model_config = ConfigDict(extra="forbid")

    consistency: Consistency = Field(
        Consistency.unchecked,
        description="consistent | partly_unsupported | unsupported: whether the models' scores back what "
        "the diagnosis says. With `unsupported` the summary is not an explanation of the verdict.",
    )
    violations: list[Violation] = Field(
        max_length=MAX_VIOLATIONS,
        description="The LLM's violations in categories the models scored at or above the review threshold.",
    )
    unsupported: list[UnsupportedViolation] = Field(
        default_factory=list, max_length=MAX_VIOLATIONS,
        description="The LLM's violations in categories the models scored below the review threshold.",
    )
    summary: str = Field(max_length=600)
    confidence: float = Field(ge=0, le=1, description="The LLM's confidence, capped at what the evidence backs.")
    llm_confidence: float | None = Field(
        None, ge=0, le=1, description="The confidence the LLM reported (absent on unchecked diagnoses)."
    )
    confidence_capped: bool = Field(False, description="True when `confidence` is below `llm_confidence`.")

    _short = field_validator("summary")(_first_words)


class SummaryStatus(StrEnum):
    ok = "ok"
    not_requested = "not_requested"
    skipped = "skipped"  # auto mode on the approve/deboost path, or auto with options.record=false
    pending = "pending"  # auto mode: the decision is stored; the diagnosis is written to it when ready
    shed = "shed"  # auto mode: this ingress's backlog of pending diagnoses was full; the decision stands
    disabled = "disabled"  # no LLM in this profile
    timeout = "timeout"
    unavailable = "unavailable"
    invalid = "invalid"
