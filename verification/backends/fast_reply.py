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

Nearly all of a reply is its per-resource answers (``ResourceSpecificResults``), and nearly all of
those take one form: a resource, a decision, the matched statements with their positions, no
missing context. Those are read by one regular expression each, before the XML parser sees the
rest (``_simple_answers``); the parser then reads a reply a tenth the size, with a placeholder
where each was. The expression matches only that form as the parser would read it: plain tags,
whitespace between them, text with no entity, carriage return or character XML forbids; a reply
holding a comment, CDATA, a document type or a placeholder-like tag is not split at all, and any
other form of answer is left in place for the parser. Where a placeholder turns up anywhere but
among per-resource answers, botocore reads the reply.

``VERIFICATION_BOTOCORE_PARSER=1`` in the environment turns the reader off (botocore parses every
reply): for comparing the two, or ruling the reader out.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
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
    simple: list[dict[str, Any]] | None = None
    if isinstance(body, bytes) and _simple_answers_supported(shape):
        body, simple = _simple_answers(body)
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
    _put_back(parsed, iter(simple or ()))  # also where nothing was taken out: a "<_/>" of the reply is refused
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
    # Only per-resource answers may have been taken out by ``_simple_answers``.
    placeholders = frozenset(_tags(PLACEHOLDER)) if shape.member.name == ANSWER else frozenset()

    def read(node: Element) -> list[Any]:
        out = []
        for child in node:
            if child.tag in placeholders and not len(child) and not child.text and not child.attrib:
                out.append(TAKEN)
                continue
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


# -- the per-resource answers of the common form, read by a regular expression -----------------------

#: The shape of one per-resource answer, and the members (in the shape's order) of its common form.
ANSWER = "ResourceSpecificResult"
#: What stands in the XML where an answer was taken out (a tag no IAM reply has), and in the list read.
PLACEHOLDER = "_"
TAKEN = object()
_PLACEHOLDER_XML = b"<" + PLACEHOLDER.encode() + b"/>"

_SPACE = rb"[ \t\r\n]*"  # XML's whitespace between tags (a carriage return inside text is not read here)
#: Text the parser gives as it is written: printable ASCII, tabs and newlines, but no "<", ">" or "&"
#: (no markup, entity or "]]>"). Any other text leaves its answer to the parser.
_TEXT = rb"([\t\n\x20-\x25\x27-\x3b\x3d\x3f-\x7e]*)"
_INTEGER = rb"([0-9]{1,9})"


def _element(name: bytes, inner: bytes) -> bytes:
    return b"<" + name + b">" + inner + b"</" + name + b">"


def _empty(name: bytes) -> bytes:
    return b"(?:<" + name + b"/>|<" + name + b">" + _SPACE + b"</" + name + b">)"


def _children(*elements: bytes) -> bytes:
    """Elements one after another, as XML's whitespace may separate them (and start and end their parent)."""
    return _SPACE + _SPACE.join(elements) + _SPACE


def _statement(text: bytes, integer: bytes) -> bytes:
    """One matched statement: its policy, its type, where it starts and ends (as groups, or not)."""
    position = _children(_element(b"Line", integer), _element(b"Column", integer))
    return _element(
        b"member",
        _children(
            _element(b"SourcePolicyId", text),
            _element(b"SourcePolicyType", text),
            _element(b"StartPosition", position),
            _element(b"EndPosition", position),
        ),
    )


_STATEMENT = re.compile(_statement(_TEXT, _INTEGER))
#: One answer: groups are its resource, its decision and its statements (None for none).
_SIMPLE = re.compile(
    _element(
        b"member",
        _children(
            _element(b"EvalResourceName", _TEXT),
            _element(b"EvalResourceDecision", _TEXT),
            b"(?:<MatchedStatements/>|<MatchedStatements>((?:"
            + _SPACE
            + _statement(_TEXT.replace(b"(", b"(?:"), _INTEGER.replace(b"(", b"(?:"))
            + b")*)"
            + _SPACE
            + b"</MatchedStatements>)",
            _empty(b"MissingContextValues"),
        ),
    )
)


def _simple_answers(body: bytes) -> tuple[bytes, list[dict[str, Any]] | None]:
    """The body with each common-form per-resource answer taken out, and those answers, read; else as it was.

    What is taken out holds no "<" but its own tags, so the rest holds every comment, CDATA section
    and document type of the reply: a reply with any of them (b"<!", which could hide an answer or
    redefine one) is not split, nor one that already held a placeholder's tag.
    """
    parts = _SIMPLE.split(body)
    if len(parts) == 1:
        return body, None
    rest = _PLACEHOLDER_XML.join(parts[0::4])
    if b"<!" in rest or rest.count(_PLACEHOLDER_XML[:2]) != len(parts) // 4:
        return body, None
    statements: dict[bytes | None, list[tuple[str, str, int, int, int, int]]] = {None: []}
    taken = []
    for at in range(1, len(parts), 4):
        block = parts[at + 2]
        read = statements.get(block)
        if read is None:  # the same statements recur on most of an action's resources: read each once
            read = statements[block] = [
                (policy.decode(), kind.decode(), int(line), int(column), int(end_line), int(end_column))
                for policy, kind, line, column, end_line, end_column in _STATEMENT.findall(block)
            ]
        taken.append(
            {
                "EvalResourceName": parts[at].decode(),
                "EvalResourceDecision": parts[at + 1].decode(),
                "MatchedStatements": [  # new objects for each answer, as botocore's
                    {
                        "SourcePolicyId": policy,
                        "SourcePolicyType": kind,
                        "StartPosition": {"Line": line, "Column": column},
                        "EndPosition": {"Line": end_line, "Column": end_column},
                    }
                    for policy, kind, line, column, end_line, end_column in read
                ],
                "MissingContextValues": [],
            }
        )
    return rest, taken


def _put_back(parsed: dict[str, Any], taken: Iterator[dict[str, Any]]) -> None:
    """Each answer taken out, in the place of its placeholder (in document order); every one, exactly once."""
    for result in parsed.get("EvaluationResults") or ():
        answers = result.get("ResourceSpecificResults")
        for at, answer in enumerate(answers or ()):
            if answer is TAKEN:
                answers[at] = next(taken, None)
                if answers[at] is None:
                    raise Unexpected("more placeholders than answers taken out")
    if next(taken, None) is not None:
        raise Unexpected("an answer taken out was not among the per-resource answers")


@lru_cache(maxsize=64)
def _simple_answers_supported(shape: Shape) -> bool:
    """Whether botocore's model is the one the expression is written for (else the parser reads everything).

    The answer, its statements and their positions, with these members in this order and these types,
    none renamed in the XML.
    """
    expected = {
        ANSWER: ["EvalResourceName", "EvalResourceDecision", "MatchedStatements", "MissingContextValues"],
        "Statement": ["SourcePolicyId", "SourcePolicyType", "StartPosition", "EndPosition"],
        "Position": ["Line", "Column"],
    }
    types = {"StartPosition": "structure", "EndPosition": "structure", "Line": "integer", "Column": "integer"}
    try:
        results = shape.members["EvaluationResults"].member  # type: ignore[attr-defined]
        answer = results.members["ResourceSpecificResults"].member
        statement = answer.members["MatchedStatements"].member
        found = {ANSWER: answer, "Statement": statement, "Position": statement.members["StartPosition"]}
    except (AttributeError, KeyError):
        return False
    if statement.members["EndPosition"].name != "Position":
        return False
    for name, members in expected.items():
        model = found[name]
        if model.name != name or list(model.members)[: len(members)] != members:
            return False
        for member in members:
            shaped = model.members[member]
            if shaped.serialization or shaped.type_name != types.get(
                member, "list" if member in ("MatchedStatements", "MissingContextValues") else "string"
            ):
                return False
    missing = answer.members["MissingContextValues"]
    return bool(missing.member.type_name == "string" and not missing.member.serialization.get("name"))
