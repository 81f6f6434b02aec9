"""Protobuf ↔ pydantic, generically: the proto messages mirror core/schemas/ field for field,
so one walk over the message descriptor converts any of them. Media bytes become the base64
strings the pydantic models validate; unset optional fields stay absent, so pydantic defaults
apply exactly as for JSON. Responses go back through `json_format.ParseDict`, which refuses any
field the proto lacks, so a schema change that forgets the proto fails loudly."""

from __future__ import annotations

import base64
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from pydantic import BaseModel

M = TypeVar("M", bound=Message)
_WELL_KNOWN = {"google.protobuf.Value", "google.protobuf.Struct", "google.protobuf.ListValue"}


def _value(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.full_name in _WELL_KNOWN:
            return json_format.MessageToDict(value)
        return message_to_dict(value)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    return value


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def message_to_dict(msg: Message) -> dict[str, Any]:
    """The pydantic-shaped dict of a request message (absent optional fields left out)."""
    out: dict[str, Any] = {}
    for field in msg.DESCRIPTOR.fields:
        value = getattr(msg, field.name)
        if _is_map(field):  # proto3 cannot tell an empty map or list from an absent one
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {k: _value(value_field, v) for k, v in value.items()}
        elif field.is_repeated:
            out[field.name] = [_value(field, v) for v in value]
        elif field.has_presence:
            if msg.HasField(field.name):
                out[field.name] = _value(field, value)
        else:
            out[field.name] = _value(field, value)
    return out


def model_to_message(model: BaseModel, cls: type[M]) -> M:
    """A response model as its proto message (None fields are simply unset)."""
    return json_format.ParseDict(model.model_dump(mode="json", exclude_none=True), cls())
