"""A faster reader for the simulation reply, which falls back to botocore's own parser on anything unexpected.

One role's SimulatePrincipalPolicy reply holds 1,230 answers (82 actions on 15 resources, about
600 KB of query-protocol XML). botocore's generic parser walks it shape by shape: a regular
expression per element to strip the namespace, a dictionary of children per structure, a method
lookup per value. That was the largest single share of the runner's CPU per role (issue 27).

This reader is compiled once from the same botocore output shape, into one small function per
shape, and builds exactly what botocore's ``QueryParser`` builds: the same keys in the same
(shape) order, the same types, ``ResponseMetadata`` from the reply. It reads only a reply it fully
understands: a 200 answer to a simulation (``SimulatePolicyResponse``, shared by
SimulatePrincipalPolicy and SimulateCustomPolicy) whose every element is one the shape names, in
IAM's namespace or none, none repeated where the shape has no list, every scalar a leaf. Anything
else (an unknown or repeated element, another namespace, an error reply, a non-200 status, bad XML,
an integer that is not one) raises inside the reader and botocore parses the reply as it always
did, with its own answer or its own error.

``VERIFICATION_BOTOCORE_PARSER=1`` in the environment turns the reader off (botocore parses every
reply): for comparing the two, or ruling the reader out.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from xml.etree import ElementTree as ETree  # what botocore.compat.ETree is
from xml.etree.ElementTree import Element

from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.parsers import QueryParser, ResponseParserFactory

LOG = logging.getLogger(__name__)

#: The output shapes this reader knows (SimulatePrincipalPolicy's and SimulateCustomPolicy's).
SHAPES = frozenset({"SimulatePolicyResponse"})
#: IAM's XML namespace; an element in any other namespace sends the reply to botocore.
NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"
#: The environment variable that turns the reader off.
DISABLE = "VERIFICATION_BOTOCORE_PARSER"
_PREFIXES = ("", "{" + NAMESPACE + "}")

Reader = Callable[[Element], Any]


class Unexpected(Exception):
    """Something in the reply this reader does not read exactly as botocore would: botocore reads it."""


class FastQueryParser(QueryParser):
    """botocore's query-protocol parser, with the simulation reply read by ``read_reply`` when it can."""

    def _do_parse(self, response: dict[str, Any], shape: Shape | None) -> Any:
        if shape is not None and shape.name in SHAPES and response.get("status_code") == 200:
            try:
                return read_reply(response["body"], shape)
            except Exception as error:  # anything at all: botocore reads it, with its answer or its error
                LOG.debug("simulation reply left to botocore's parser: %r", error)
        return super()._do_parse(response, shape)  # type: ignore[misc]  # botocore-stubs omit it


class FastReplyParserFactory(ResponseParserFactory):
    """botocore's parser factory, giving ``FastQueryParser`` for the query protocol (IAM, STS).

    Registered on a botocore session as its ``response_parser_factory`` component, every client made
    from the session gets it. Unless ``VERIFICATION_BOTOCORE_PARSER`` is set.
    """

    def __init__(self) -> None:
        super().__init__()
        self._kwargs: dict[str, Any] = {}

    def set_parser_defaults(self, **kwargs: Any) -> None:
        super().set_parser_defaults(**kwargs)
        self._kwargs.update(kwargs)

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "query" and not os.environ.get(DISABLE):
            return FastQueryParser(**self._kwargs)
        return super().create_parser(protocol_name)


def install(session: Any) -> None:
    """Give every client later made from this botocore session the fast reader."""
    session.register_component("response_parser_factory", FastReplyParserFactory())


def read_reply(body: bytes | str, shape: Shape) -> dict[str, Any]:
    """The parsed reply, as ``QueryParser._do_parse`` gives it; ``Unexpected`` (or any error) if unsure.

    ``ResponseMetadata``'s HTTP fields are added afterwards by botocore's ``parse``, as for any reply.
    """
    if shape.name not in SHAPES or not isinstance(shape, StructureShape):
        raise Unexpected(f"not a simulation reply: {shape.name}")
    wrapper = shape.serialization.get("resultWrapper")
    if not wrapper:
        raise Unexpected("no result wrapper")
    parser = ETree.XMLParser(target=ETree.TreeBuilder(), encoding="utf-8")  # as botocore's
    parser.feed(body)
    root = parser.close()
    _namespace(root.tag)
    result: Element | None = None
    metadata: Element | None = None
    for child in root:
        tag = _local(child.tag)
        if tag == wrapper and result is None:
            result = child
        elif tag == "ResponseMetadata" and metadata is None:
            metadata = child
        else:
            raise Unexpected(f"element <{tag}> in the reply")
    if result is None:
        raise Unexpected(f"no <{wrapper}>")
    parsed: dict[str, Any] = _reader(shape)(result)
    if metadata is not None:
        fields: dict[str, Any] = {}
        for item in metadata:
            tag = _local(item.tag)
            if tag in fields or len(item):
                raise Unexpected(f"ResponseMetadata's <{tag}>")
            fields[tag] = item.text
        parsed["ResponseMetadata"] = fields
    return parsed


def _namespace(tag: str) -> None:
    if tag.startswith("{") and not tag.startswith(_PREFIXES[1]):
        raise Unexpected(f"namespace of {tag}")


def _local(tag: Any) -> str:
    if not isinstance(tag, str):
        raise Unexpected("a comment or processing instruction")
    _namespace(tag)
    return tag.rpartition("}")[2]


def _tags(name: str) -> tuple[str, ...]:
    return tuple(prefix + name for prefix in _PREFIXES)


@lru_cache(maxsize=64)
def _reader(shape: Shape) -> Reader:
    """One function that reads an element of ``shape`` as botocore would; built once per shape.

    ``Unexpected`` (here, at compile time) for a shape this reader does not handle: every reply of it
    then goes to botocore.
    """
    if isinstance(shape, StructureShape):
        return _structure(shape)
    if isinstance(shape, ListShape):
        return _list(shape)
    if isinstance(shape, MapShape):
        return _map(shape)
    kind = shape.type_name
    if kind == "string" and not shape.serialization.get("xmlAttribute"):
        return _string
    if kind == "boolean":
        return _boolean
    if kind in ("integer", "long"):
        return _integer
    raise Unexpected(f"{kind} shape {shape.name}")


def _structure(shape: StructureShape) -> Reader:
    if shape.metadata.get("exception") or shape.is_tagged_union or shape.serialization.get("xmlNamespace"):
        raise Unexpected(f"structure {shape.name}")
    order = list(shape.members)
    #: tag -> (the member's place in the shape, its name, whether it is a string, its reader)
    by_tag: dict[str, tuple[int, str, bool, Reader]] = {}
    for place, (name, member) in enumerate(shape.members.items()):
        serialization = member.serialization
        if serialization.get("location") or serialization.get("xmlAttribute") or serialization.get("flattened"):
            raise Unexpected(f"member {name} of {shape.name}")
        reader = _reader(member)
        for tag in _tags(serialization.get("name", name)):
            by_tag[tag] = (place, name, reader is _string, reader)

    def read(node: Element) -> dict[str, Any]:
        found: dict[str, Any] = {}
        last = -1
        in_order = True
        for child in node:
            entry = by_tag.get(child.tag)
            if entry is None:
                raise Unexpected(f"element {child.tag} in {shape.name}")
            place, name, string, reader = entry
            if place <= last or not in_order:  # in the shape's order, no member can repeat
                if name in found:
                    raise Unexpected(f"repeated {name} in {shape.name}")
                in_order = False
            last = place
            if string:  # most values: read here rather than in a call (a reply has some 20,000)
                if len(child):
                    raise Unexpected(f"element {child.tag} where a value was expected")
                text = child.text
                found[name] = "" if text is None else text
            else:
                found[name] = reader(child)
        if in_order:
            return found
        return {name: found[name] for name in order if name in found}  # botocore's order: the shape's

    return read


def _list(shape: ListShape) -> Reader:
    if shape.serialization.get("flattened"):
        raise Unexpected(f"flattened list {shape.name}")
    tags = frozenset(_tags(shape.member.serialization.get("name", "member")))
    member = _reader(shape.member)

    def read(node: Element) -> list[Any]:
        out = []
        for child in node:
            if child.tag not in tags:
                raise Unexpected(f"element {child.tag} in list {shape.name}")
            out.append(member(child))
        return out

    return read


def _map(shape: MapShape) -> Reader:
    if shape.serialization.get("flattened"):
        raise Unexpected(f"flattened map {shape.name}")
    entries = frozenset(_tags("entry"))
    keys = frozenset(_tags(shape.key.serialization.get("name") or "key"))
    values = frozenset(_tags(shape.value.serialization.get("name") or "value"))
    key_reader, value_reader = _reader(shape.key), _reader(shape.value)

    def read(node: Element) -> dict[Any, Any]:
        out = {}
        for entry in node:
            if entry.tag not in entries or len(entry) != 2:
                raise Unexpected(f"entry of map {shape.name}")
            first, second = entry
            if first.tag in keys and second.tag in values:
                out[key_reader(first)] = value_reader(second)
            elif first.tag in values and second.tag in keys:
                out[key_reader(second)] = value_reader(first)
            else:
                raise Unexpected(f"entry of map {shape.name}")
        return out

    return read


def _text(node: Element) -> str:
    if len(node):
        raise Unexpected(f"element {node.tag} where a value was expected")
    text = node.text
    return "" if text is None else text  # botocore: an empty element is an empty string


def _string(node: Element) -> str:
    return _text(node)


def _boolean(node: Element) -> bool:
    return _text(node) == "true"  # botocore: anything but "true" is False


def _integer(node: Element) -> int:
    return int(_text(node))
