"""One error type per failure; each protocol maps them once (HTTP here, gRPC in its module).

Errors cross Ray handle boundaries, so they stay plain picklable exceptions with a code; a code
names exactly one class (`error_class`), which is how a replica's typed failure becomes the
ingress's error again.
"""

from __future__ import annotations

from typing import ClassVar


class AdriskError(Exception):
    code = "internal"
    http_status = 500
    grpc_status = "INTERNAL"  # a grpc.StatusCode member name
    retryable = False
    _by_code: ClassVar[dict[str, type[AdriskError]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            return  # a variant of its parent (its own body or message), answered under the parent's code
        taken = AdriskError._by_code.get(cls.code)
        if taken is not None and taken is not cls:
            raise TypeError(f"error code {cls.code!r} is taken by {taken.__name__}")
        AdriskError._by_code[cls.code] = cls

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def to_body(self) -> dict[str, str]:
        return {"error": self.code, "detail": self.detail}


class InvalidInput(AdriskError):
    """The client sent something malformed (bad JSON, bad base64, corrupt image)."""

    code = "invalid_input"
    http_status = 400
    grpc_status = "INVALID_ARGUMENT"


class UnprocessableInput(AdriskError):
    """Well-formed but fails validation (schema, limits on counts)."""

    code = "unprocessable"
    http_status = 422
    grpc_status = "INVALID_ARGUMENT"


class PayloadTooLarge(AdriskError):
    code = "payload_too_large"
    http_status = 413
    grpc_status = "INVALID_ARGUMENT"


class UnsupportedMediaType(AdriskError):
    code = "unsupported_media_type"
    http_status = 415
    grpc_status = "INVALID_ARGUMENT"


class Conflict(AdriskError):
    """The idempotency key was reused with a different payload."""

    code = "conflict"
    http_status = 409
    grpc_status = "ALREADY_EXISTS"


class NotFound(AdriskError):
    code = "not_found"
    http_status = 404
    grpc_status = "NOT_FOUND"


class Overloaded(AdriskError):
    """Queues are full; retry after a pause."""

    code = "overloaded"
    http_status = 503
    grpc_status = "RESOURCE_EXHAUSTED"
    retryable = True


class DeadlineExceeded(AdriskError):
    """The call ran past the ingress's request budget (`request_timeout_s`). Decisions already
    acknowledged are stored; a retry with the same request_id returns the stored decision."""

    code = "deadline_exceeded"
    http_status = 504
    grpc_status = "DEADLINE_EXCEEDED"
    retryable = True


class NotReady(AdriskError):
    code = "not_ready"
    http_status = 503
    grpc_status = "UNAVAILABLE"
    retryable = True


class Unavailable(AdriskError):
    """A backend deployment failed or timed out; the request may be retried."""

    code = "unavailable"
    http_status = 503
    grpc_status = "UNAVAILABLE"
    retryable = True


class Unauthenticated(AdriskError):
    """No API key, or one that matches no configured key."""

    code = "unauthenticated"
    http_status = 401
    grpc_status = "UNAUTHENTICATED"


class PermissionDenied(AdriskError):
    """A valid key without the role this route needs."""

    code = "permission_denied"
    http_status = 403
    grpc_status = "PERMISSION_DENIED"


def error_class(code: str) -> type[AdriskError]:
    """The one error class with this code (InvalidInput for a code no class has)."""
    return AdriskError._by_code.get(code, InvalidInput)
