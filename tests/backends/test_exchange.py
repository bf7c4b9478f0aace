"""An exchange's evidence text holds exactly the answer the standard library's encoder would write.

The answers are encoded with orjson (fast); these tests hold it to ``json.dumps(..., default=str)``,
what the evidence always held: the same values, dates as ``str(date)``, and what orjson refuses
(keys that are not text, numbers past 64 bits) still written, by the standard library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from verification.backends import Exchange

#: What botocore's parsers give back: text (any Unicode), whole numbers, floats, booleans, None,
#: dates, lists and dicts, nested.
SCALARS = (
    st.text()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.none()
    | st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))]))
)
ANSWERS = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4)
)


def as_the_standard_library_writes(response: Any) -> Any:
    return json.loads(json.dumps({"response": response}, default=str))["response"]


@settings(max_examples=300, deadline=None)
@given(ANSWERS)
def test_the_evidence_holds_the_values_the_standard_library_would_write(response: Any) -> None:
    exchange = Exchange(
        "SimulatePrincipalPolicy", {"PolicySourceArn": "arn:aws:iam::123456789012:role/W"}, {"R": response}
    )
    written = json.loads(exchange.to_json())
    assert written["response"] == as_the_standard_library_writes({"R": response})
    assert written["operation"] == "SimulatePrincipalPolicy"


def test_a_date_is_written_as_its_str_not_in_another_form() -> None:
    """GetRole's CreateDate reads as it always did in the evidence: ``2026-11-29 12:00:00+00:00``."""
    created = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    exchange = Exchange("GetRole", {"RoleName": "W"}, {"Role": {"CreateDate": created}})
    assert json.loads(exchange.to_json())["response"]["Role"]["CreateDate"] == "2026-11-29 12:00:00+00:00"


def test_what_orjson_refuses_is_still_written() -> None:
    """A key that is not text and a number past 64 bits: written as the standard library writes them."""
    response: dict[Any, Any] = {1: "one", None: "none", "big": 2**70, "nested": {2.5: [True]}}
    exchange = Exchange("Custom", {}, response)
    assert json.loads(exchange.to_json())["response"] == {
        "1": "one",
        "null": "none",
        "big": 2**70,
        "nested": {"2.5": [True]},
    }


def test_a_dataclass_or_other_object_is_written_as_its_str() -> None:
    """Anything that is not JSON goes through ``str``, as ``default=str`` always did (orjson's own forms are off)."""

    @dataclass
    class Odd:
        value: int

    odd = Odd(1)
    exchange = Exchange("Custom", {}, {"odd": odd, "raw": b"\x00"})
    assert json.loads(exchange.to_json())["response"] == {"odd": str(odd), "raw": "b'\\x00'"}
    assert str(odd).endswith("Odd(value=1)")  # not orjson's {"value": 1}


def test_text_beyond_ascii_reads_back_the_same() -> None:
    """A role's description in any language: the JSON text is UTF-8, its value unchanged."""
    exchange = Exchange("GetRole", {}, {"Role": {"Description": "Sauvegarde, 备份, 💾"}})
    text = exchange.to_json()
    assert json.loads(text.encode())["response"]["Role"]["Description"] == "Sauvegarde, 备份, 💾"
