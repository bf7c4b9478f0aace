"""A fault-injecting HTTP proxy for the local IAM endpoint: the harness talks to it as if it were AWS.

Each request is read (the query-protocol form body names the operation and its parameters), then
the first matching rule of the table decides: answer with a fault, or forward to the endpoint (and
maybe spoil the answer). Every call is logged with the fault it got, so a test can check that the
fault it is about really happened.
"""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlparse

IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
#: The Marker of a page that claims more results; asking for it is where pagination breaks off.
BROKEN_MARKER = "fault-injected-marker"


@dataclass(frozen=True)
class Call:
    """One request as the proxy saw it."""

    index: int
    action: str
    params: Mapping[str, str]

    def mentions(self, role_name: str) -> bool:
        """Does the request concern this role (RoleName, PolicySourceArn or a ResourceArns entry)?"""
        return any(value == role_name or value.endswith(f":role/{role_name}") for value in self.params.values())


#: What a rule does: answer the request itself (return True) or leave it to be forwarded (False).
Effect = Callable[["_Handler", Call], bool]


@dataclass(frozen=True)
class Rule:
    """When ``when`` matches a call, ``effect`` handles it; ``name`` goes into the proxy's log."""

    name: str
    when: Callable[[Call], bool]
    effect: Effect


@dataclass
class LogEntry:
    call: Call
    fault: str | None


def error_xml(code: str, message: str, sender: bool = True) -> bytes:
    """An AWS query-protocol error document, as IAM and STS send them."""
    kind = "Sender" if sender else "Receiver"
    return (
        f'<ErrorResponse xmlns="{IAM_NS}"><Error><Type>{kind}</Type><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>fault-injected</RequestId></ErrorResponse>"
    ).encode()


# --- effects ---------------------------------------------------------------------------------------


def respond(status: int, body: bytes, content_type: str = "text/xml") -> Effect:
    """Answer with this status and body instead of the endpoint."""

    def effect(handler: _Handler, call: Call) -> bool:
        handler.reply(status, body, content_type)
        return True

    return effect


def aws_error(status: int, code: str, message: str) -> Effect:
    """Answer with an AWS error document (Throttling, AccessDenied, NoSuchEntity, ExpiredToken, ...)."""
    return respond(status, error_xml(code, message, sender=status < 500))


def reset() -> Effect:
    """Drop the connection with a TCP reset, no answer at all."""

    def effect(handler: _Handler, call: Call) -> bool:
        handler.reset_connection()
        return True

    return effect


def delay(seconds: float) -> Effect:
    """Answer correctly, but late."""

    def effect(handler: _Handler, call: Call) -> bool:
        time.sleep(seconds)
        return False

    return effect


def malformed() -> Effect:
    """Forward, then answer 200 with the endpoint's XML cut off in the middle."""

    def effect(handler: _Handler, call: Call) -> bool:
        _, body, content_type = handler.forward()
        handler.reply(200, body[: len(body) // 2], content_type)
        return True

    return effect


def truncated_page(keep: int = 2) -> Effect:
    """Forward a first SimulatePrincipalPolicy page, keep ``keep`` results and claim there are more.

    The next page (asked with BROKEN_MARKER) must be refused by another rule: pagination then breaks
    off after a page that looked fine.
    """

    def effect(handler: _Handler, call: Call) -> bool:
        status, body, content_type = handler.forward()
        ET.register_namespace("", IAM_NS)
        root = ET.fromstring(body)
        result = root.find(f"{{{IAM_NS}}}SimulatePrincipalPolicyResult")
        assert result is not None, body[:200]
        members = result.find(f"{{{IAM_NS}}}EvaluationResults")
        assert members is not None
        for extra in list(members)[keep:]:
            members.remove(extra)
        truncated = result.find(f"{{{IAM_NS}}}IsTruncated")
        if truncated is None:
            truncated = ET.SubElement(result, f"{{{IAM_NS}}}IsTruncated")
        truncated.text = "true"
        marker = result.find(f"{{{IAM_NS}}}Marker")
        if marker is None:
            marker = ET.SubElement(result, f"{{{IAM_NS}}}Marker")
        marker.text = BROKEN_MARKER
        handler.reply(status, ET.tostring(root), content_type)
        return True

    return effect


def flip_decision(action_name: str, to: str = "implicitDeny") -> Effect:
    """Forward a SimulatePrincipalPolicy, then change every decision about ``action_name`` to ``to``.

    The answer stays well-formed and self-consistent (top level and per resource alike): it is what a
    simulator that decides differently from the engine would say.
    """

    def effect(handler: _Handler, call: Call) -> bool:
        status, body, content_type = handler.forward()
        ET.register_namespace("", IAM_NS)
        root = ET.fromstring(body)
        for member in root.iter(f"{{{IAM_NS}}}member"):
            name = member.find(f"{{{IAM_NS}}}EvalActionName")
            if name is None or (name.text or "").lower() != action_name.lower():
                continue
            for tag in ("EvalDecision", "EvalResourceDecision"):
                for decision in member.iter(f"{{{IAM_NS}}}{tag}"):
                    decision.text = to
        handler.reply(status, ET.tostring(root), content_type)
        return True

    return effect


def kill(on_kill: Callable[[], None]) -> Effect:
    """The endpoint dies: stop the upstream, stop listening, and drop this and every later connection."""

    def effect(handler: _Handler, call: Call) -> bool:
        handler.proxy.die(on_kill)
        handler.reset_connection()
        return True

    return effect


class Meter:
    """Round-trip latency on every call, and each call's time per account, to check the pace afterwards.

    Accounts are told apart by the access key that signs a request: an ``AssumeRole`` answer names
    the key it hands out, and its ``RoleArn`` the account (moto maps assumed credentials to it).
    Calls signed by any other key count under ``"caller"``.
    """

    def __init__(self, low: float, high: float, seed: int = 15) -> None:
        import random

        self.low, self.high = low, high
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}
        #: Per account: (time sent on, operation) of every call, in arrival order.
        self.calls: dict[str, list[tuple[float, str]]] = {}

    def effect(self) -> Effect:
        """Wait 50-100 ms (``low``-``high``), forward, and record the call under its account."""

        def effect(handler: _Handler, call: Call) -> bool:
            key = re.search(r"Credential=([^/]+)/", handler.headers.get("Authorization", ""))
            with self._lock:
                wait = self._random.uniform(self.low, self.high)
                account = self._keys.get(key[1], "caller") if key else "caller"
                self.calls.setdefault(account, []).append((time.monotonic(), call.action))
            time.sleep(wait)
            status, body, content_type = handler.forward()
            if call.action == "AssumeRole" and status == 200:
                issued = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", body)
                arn = call.params.get("RoleArn", "")
                if issued and arn.count(":") >= 5:
                    with self._lock:
                        self._keys[issued[1].decode()] = arn.split(":")[4]
            handler.reply(status, body, content_type)
            return True

        return effect

    def busiest(self, account: str, window: float = 1.0) -> int:
        """The most calls of ``account`` sent within any ``window`` seconds."""
        times = sorted(t for t, _ in self.calls.get(account, ()))
        most, start = 0, 0
        for end, moment in enumerate(times):
            while moment - times[start] > window:
                start += 1
            most = max(most, end - start + 1)
        return most


# --- matchers --------------------------------------------------------------------------------------


def action(*names: str, role: str | None = None, source: str | None = None) -> Callable[[Call], bool]:
    """Calls of these operations (all when none named), optionally only those concerning ``role``.

    ``source`` narrows SimulatePrincipalPolicy to one principal (not the appliance-side simulation,
    which names the role only as its resource).
    """

    def when(call: Call) -> bool:
        if names and call.action not in names:
            return False
        if role is not None and not call.mentions(role):
            return False
        return source is None or call.params.get("PolicySourceArn", "").endswith(f":role/{source}")

    return when


def next_page() -> Callable[[Call], bool]:
    """The request for the page after a truncated one."""
    return lambda call: call.params.get("Marker") == BROKEN_MARKER


def fraction(numerator: int, denominator: int) -> Callable[[Call], bool]:
    """Bursts: the first ``numerator`` of every ``denominator`` consecutive calls (3 of 10 = 30 %)."""
    return lambda call: call.index % denominator < numerator


def from_first(predicate: Callable[[Call], bool]) -> Callable[[Call], bool]:
    """Every call from the first one matching ``predicate`` on (a credential that expires mid-run)."""
    started: list[int] = []

    def when(call: Call) -> bool:
        if not started and predicate(call):
            started.append(call.index)
        return bool(started)

    return when


# --- the server ------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    @property
    def proxy(self) -> FaultProxy:
        return self.server.proxy

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length)
        if self.proxy.dead:
            self.reset_connection()
            return
        params = dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        call = self.proxy.next_call(params.pop("Action", "?"), params)
        rule = next((r for r in self.proxy.rules if r.when(call)), None)
        self.proxy.log.append(LogEntry(call, rule.name if rule else None))
        if rule is not None and rule.effect(self, call):
            return
        self.reply(*self.forward())

    do_GET = do_POST

    def forward(self) -> tuple[int, bytes, str]:
        """Send the request on to the endpoint; its status, body and content type."""
        upstream = http.client.HTTPConnection(self.proxy.upstream.hostname or "", self.proxy.upstream.port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            upstream.request(self.command, self.path, body=self.body, headers=headers)
            answer = upstream.getresponse()
            return answer.status, answer.read(), answer.getheader("Content-Type", "text/xml")
        finally:
            upstream.close()

    def reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "fault-proxy")
        self.end_headers()
        self.wfile.write(body)

    def reset_connection(self) -> None:
        """Close with SO_LINGER 0: the client gets a TCP RST instead of an answer."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy


@dataclass
class FaultProxy:
    """``with FaultProxy(upstream_url, rules) as proxy: proxy.url`` serves on a free 127.0.0.1 port."""

    upstream_url: str
    rules: list[Rule] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    dead: bool = False

    def __post_init__(self) -> None:
        self.upstream = urlparse(self.upstream_url)
        self._lock = threading.Lock()
        self._count = 0
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._stopped = False

    def next_call(self, action_name: str, params: Mapping[str, str]) -> Call:
        with self._lock:
            call = Call(self._count, action_name, params)
            self._count += 1
            return call

    def faults(self, name: str) -> list[Call]:
        """The calls that got the named fault."""
        return [entry.call for entry in self.log if entry.fault == name]

    def die(self, on_kill: Callable[[], None]) -> None:
        """Stop the upstream and this listener (from another thread: serve_forever is still running)."""
        with self._lock:
            if self.dead:
                return
            self.dead = True
        on_kill()
        threading.Thread(target=self.stop, name="fault-proxy-kill", daemon=True).start()

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
