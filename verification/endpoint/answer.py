"""Our handlers' answers as IAM query-protocol XML, written straight from the operation's output shape.

moto's generic serializer looks every member up under several spellings and builds the document
through xmltodict: about 20 ms for one simulation of 82 actions, most of the endpoint's CPU when a
nightly run verifies a thousand roles. This writes the same bytes (a Hypothesis test compares the
two on any value the output shapes admit) in a fraction of that. moto still answers every other operation, and every
error.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape
from moto.core.utils import get_service_model

NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"
#: moto's ``_enrich_response`` puts a fresh request id here and in the ``x-amzn-requestid`` header.
REQUEST_ID = "<RequestId>pending</RequestId>"


@cache
def _operation(name: str) -> OperationModel:
    model: OperationModel = get_service_model("iam").operation_model(name)
    return model


def render(operation: str, result: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """``result`` (the output shape's fields) as moto's handler answer: (XML body, headers)."""
    shape = _operation(operation).output_shape
    out = [f'<{operation}Response xmlns="{NAMESPACE}">']
    if shape is not None:
        _Writer().element(shape, result, shape.serialization.get("resultWrapper", f"{operation}Result"), out)
    out.append(f"<ResponseMetadata>{REQUEST_ID}</ResponseMetadata></{operation}Response>")
    return "".join(out), {"Content-Type": "text/xml"}


class _Writer:
    """Writes one answer, each structure or list object once.

    One statement's entry occurs thousands of times in a role's answer, as the same object (see
    ``policy.explain.simulation_results``): it is written once. Every object is alive until the
    answer is written, so its ``id`` names it that long.
    """

    def __init__(self) -> None:
        self.written: dict[tuple[int, int, str], str] = {}

    def element(self, shape: Shape, value: Any, tag: str, out: list[str]) -> None:
        if isinstance(shape, (StructureShape, ListShape)):
            key = (id(value), id(shape), tag)
            text = self.written.get(key)
            if text is None:
                text = self.written[key] = self._composite(shape, value, tag)
            out.append(text)
        elif isinstance(shape, MapShape):
            entries = [
                f"<entry>{_scalar_element(shape.key, key, 'key')}{_scalar_element(shape.value, item, 'value')}</entry>"
                for key, item in value.items()
                if item is not None
            ]
            out.append(f"<{tag}>{''.join(entries)}</{tag}>" if entries else f"<{tag}/>")
        else:
            out.append(_scalar_element(shape, value, tag))

    def _composite(self, shape: StructureShape | ListShape, value: Any, tag: str) -> str:
        body: list[str] = []
        if isinstance(shape, StructureShape):
            for name, member in shape.members.items():
                item = value.get(name)
                if item is not None:
                    self.element(member, item, member.serialization.get("name", name), body)
        else:
            if shape.serialization.get("flattened"):
                raise NotImplementedError(f"flattened list {shape.name}")  # IAM has none
            member_tag = shape.member.serialization.get("name", "member")
            empty = f"<{member_tag}/>" if isinstance(shape.member, StructureShape) else None
            for item in value:
                self.element(shape.member, item, member_tag, body)
                if body[-1] == empty:  # moto leaves out list items that are empty structures
                    body.pop()
        return f"<{tag}>{''.join(body)}</{tag}>" if body else f"<{tag}/>"


def _scalar_element(shape: Shape, value: Any, tag: str) -> str:
    if shape.type_name == "boolean":
        text = "true" if value is True or str(value).lower() == "true" else "false"
    elif shape.type_name in ("integer", "long"):
        text = str(int(value))
    elif shape.type_name == "string":
        text = escape(str(value))
    else:
        raise NotImplementedError(f"{shape.type_name} member {tag}")  # no timestamps in our answers
    return f"<{tag}>{text}</{tag}>" if text else f"<{tag}/>"
