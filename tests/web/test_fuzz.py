"""A seeded property-based fuzz of the whole HTTP API, over real HTTP against a real server.

Hypothesis draws requests from ``/api/openapi.json`` itself: every operation, path parameters that are real
ids or garbage, query parameters within and past their bounds, ``Last-Event-ID``, bodies from the documented
schemas (:func:`from_schema`, for the JSON Schema subset the document uses) and hostile mutations of them
(unknown fields, wrong types, NUL, lone surrogates, integers past 64 bits), raw bodies (not UTF-8, nested past
any parser, truncated, NaN, too large), wrong methods, missing tokens, foreign Host and Origin, other media
types.

Hypothesis runs in a worker thread and sends each request through the server's trio loop, so a failure
shrinks to a minimal request. Properties: no 5xx, every request answered within a timeout, every status
documented for its operation, every 4xx in the error format; afterwards the server still answers normally.
Derandomized (a fixed seed), no example database, so each run sends the same requests.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import attrs
import httpx
import jsonschema
import trio
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from orcha.agents.contract import StartRequest
from orcha.agents.fake import Call, FakeProvider, Say, Step, Wait
from orcha.model import SessionRole
from tests.web.harness import eventually, first_chunk, served

TOKEN = "fuzz-token-0123456789"
EXAMPLES = 1200
TIMEOUT = 10.0
MAX_CREATED = 6  # objectives (each starts a fake team) and targets that fuzzed bodies may really create
AGENTS = ("claude", "codex")


def _idle_team(request: StartRequest) -> Sequence[Step]:
    if request.role is SessionRole.MANAGER:
        return [Say("planning"), Call("ask_user", {"question": "Which license?"}), Wait(3600)]
    return [Say("working"), Wait(3600)]


@attrs.frozen(repr=False)
class Req:
    method: str
    template: str
    url: str
    headers: dict[str, bytes]
    content: bytes | None
    auth: bool = True
    stream: bool = False

    def __repr__(self) -> str:  # what a failure shows
        body = self.content if self.content is None or len(self.content) < 300 else self.content[:300] + b"..."
        return f"Req({self.method} {self.url[:300]} auth={self.auth} headers={self.headers} body={body!r})"


@attrs.frozen
class Answer:
    status: int
    content_type: str
    body: bytes


# --- strategies --------------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


GARBAGE_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "../../etc/passwd", "%00", "😀" * 3]),
    st.just("i" * 300),
)
HOSTILE_VALUE = st.one_of(
    st.sampled_from(["a\x00b", "\ud800", "x\udfffy", "\x00", "", "   ", "x" * 300_000]),
    st.integers(min_value=2**63, max_value=2**90),
    st.integers(min_value=-(2**90), max_value=-(2**63) - 1),
    st.sampled_from([2**63 - 1, -(2**63), 0, -1, 65536, 10**6]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.just(_deep(40)),
    GARBAGE_TEXT,
)
UNKNOWN_FIELD = st.one_of(
    st.sampled_from(["repository", "base_brach", "titel", "\x00", "\ud800", "", "__proto__", "constructor"]),
    st.text(max_size=12),
)
RAW_BODY = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [
            b"\xff\xfe{}",
            b'{"title": "caf\xe9", "agent": "claude"}',
            b"[" * 50_000,
            b'{"a": ' * 5_000,
            b"NaN",
            b'{"title": 1e999, "agent": "claude"}',
            b'{"title": ' + b"9" * 5_000 + b"}",
            b'"\\ud800"',
            b'{"title": "\\ud800", "agent": "claude"}',
            b'{"title": "a\\u0000", "agent": "claude"}',
            b"",
            b"   ",
            b"null",
            b"[]",
            b'{"title": "t"',
            b"\xef\xbb\xbf{}",
            b'{"title": "t", "title": "u", "agent": "claude"}',
        ]
    ),
)
TOO_LARGE = b'{"title": "' + b"x" * (4 * 1024 * 1024 + 16) + b'"}'
LAST_EVENT_ID = st.one_of(
    st.integers(min_value=-5, max_value=50).map(str),
    st.integers(min_value=2**62, max_value=2**70).map(str),
    st.sampled_from(["", " 3 ", "abc", "1.5", "0x10", "1_000", "-0", "9" * 400, "\u0661\u0662"]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
)


def rare(draw: Callable[..., Any], percent: int) -> bool:
    """True ``percent`` times in a hundred. Hypothesis favours 0 and the bounds of a range, so the rare case
    sits in the middle of it (and shrinks away: a failing case shrinks to the common one)."""
    return 40 <= draw(st.integers(0, 99)) < 40 + percent


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid for ``schema``: the subset the document uses (objects, bounded strings and integers, enums,
    nullable types). hypothesis-jsonschema would do, but its 0.23 breaks on current Hypothesis."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    declared = schema.get("type")
    options: list[st.SearchStrategy[Any]] = []
    for kind in [declared] if isinstance(declared, str) else list(declared or ()):
        if kind == "string":
            low, high = schema.get("minLength", 0), schema.get("maxLength", 100)
            options.append(
                st.text(
                    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
                    min_size=low,
                    max_size=min(high, 40),
                )
            )
            options.append(st.sampled_from(["x" * max(low, 1), "x" * high]))
        elif kind == "integer":
            low, high = schema.get("minimum", -(2**63)), schema.get("maximum", 2**63 - 1)
            options.append(st.one_of(st.integers(min_value=low, max_value=high), st.sampled_from([low, high])))
        elif kind == "null":
            options.append(st.none())
        elif kind == "object":
            properties = schema["properties"]
            required = {name: from_schema(properties[name]) for name in schema.get("required", ())}
            optional = {name: from_schema(s) for name, s in properties.items() if name not in required}
            options.append(st.fixed_dictionaries(required, optional=optional))
    assert options, schema
    return st.one_of(options)


def _query_value(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if schema.get("type") == "integer":
        typed = st.integers(min_value=schema["minimum"], max_value=schema["maximum"]).map(str)
        past = st.one_of(
            st.integers(min_value=schema["maximum"] + 1, max_value=2**80),
            st.integers(min_value=-(2**80), max_value=schema["minimum"] - 1),
        ).map(str)
        misc = st.one_of(past, st.sampled_from(["", "x", "1.0", "\u0661", "9" * 5000]), GARBAGE_TEXT)
        return st.one_of(typed, typed, misc)
    if "enum" in schema:
        return st.one_of(st.sampled_from(schema["enum"]), GARBAGE_TEXT)
    return st.one_of(from_schema(schema), GARBAGE_TEXT)


def _body(schema: dict[str, Any] | None, required: bool, work_root: str) -> st.SearchStrategy[tuple[bytes | None, str]]:
    """(body bytes or None, its flavour)."""
    raw = RAW_BODY.map(lambda b: (b, "raw"))
    none: st.SearchStrategy[tuple[bytes | None, str]] = st.just((None, "none"))
    if schema is None:
        return st.one_of(none, none, raw, st.just((b"{}", "empty")))

    @st.composite
    def mutated(draw: Callable[..., Any]) -> tuple[bytes | None, str]:
        body = dict(draw(from_schema(schema)))
        if "agent" in schema["properties"] and not rare(draw, 30):
            body["agent"] = draw(st.sampled_from(AGENTS))
        if "work_root" in schema["properties"] and not rare(draw, 30):  # a local target, in the test's folder
            body["kind"] = "local"
            body["work_root"] = f"{work_root}/{draw(st.integers(0, 99))}"
        flavour = draw(st.sampled_from(["valid", "valid", "unknown", "hostile", "hostile", "missing"]))
        if flavour == "unknown":
            body[draw(UNKNOWN_FIELD)] = draw(HOSTILE_VALUE)
        elif flavour == "hostile" and schema["properties"]:
            body[draw(st.sampled_from(sorted(schema["properties"])))] = draw(HOSTILE_VALUE)
        elif flavour == "missing" and schema["required"]:
            body.pop(draw(st.sampled_from(schema["required"])), None)
        return json.dumps(body).encode(), flavour

    return st.one_of(mutated(), mutated(), mutated(), raw, *([] if required else [none]))


def requests(doc: dict[str, Any], ids: dict[str, list[str]], work_root: str) -> st.SearchStrategy[Req]:
    components = doc["components"]["schemas"]
    operations = [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]

    @st.composite
    def one(draw: Callable[..., Any]) -> Req:
        template, method, op = draw(st.sampled_from(operations))
        url = template
        query: list[tuple[str, str]] = []
        headers: dict[str, bytes] = {}
        for parameter in op.get("parameters", ()):
            name, where = parameter["name"], parameter["in"]
            if where == "path":
                real = ids.get(name, [])
                value = draw(st.sampled_from(real)) if real and not rare(draw, 40) else draw(GARBAGE_TEXT)
                url = url.replace("{" + name + "}", _quote(value) or "%20")
            elif where == "query" and draw(st.booleans()):
                query.append((name, draw(_query_value(parameter["schema"]))))
            elif where == "header" and draw(st.booleans()):
                headers[name] = draw(LAST_EVENT_ID).strip().encode("utf-8")  # h11 sends no edge spaces
        if rare(draw, 10):
            query.append((draw(UNKNOWN_FIELD), draw(GARBAGE_TEXT)))
        if query:
            url += "?" + "&".join(f"{_quote(k)}={_quote(v)}" for k, v in query)
        body_spec = op.get("requestBody")
        schema = None
        if body_spec is not None:
            schema = components[body_spec["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
        content, _ = draw(_body(schema, bool(body_spec and body_spec["required"]), work_root))
        if method == "post" and rare(draw, 1):
            content = TOO_LARGE
        if content is not None:
            headers["Content-Type"] = b"application/json"
            if rare(draw, 5):
                headers["Content-Type"] = draw(
                    st.sampled_from([b"text/plain", b"application/json; charset=utf-8", b""])
                )
        if rare(draw, 3):
            headers["Host"] = b"rebind.evil.example"
        elif rare(draw, 3):
            headers["Origin"] = b"http://evil.example"
        verb = method.upper()
        if rare(draw, 5):
            verb = draw(st.sampled_from(["PUT", "DELETE", "PATCH", "GET" if verb == "POST" else "POST"]))
        return Req(
            method=verb,
            template=template,
            url=url,
            headers=headers,
            content=content,
            auth=not rare(draw, 5),
            stream=template.endswith("/stream") and verb == "GET",
        )

    return one()


# --- the run -----------------------------------------------------------------------------------------------


async def _send(clients: dict[bool, httpx.AsyncClient], req: Req) -> Answer:
    client = clients[req.auth]
    with trio.fail_after(TIMEOUT):  # a hung connection fails the property
        if req.stream:
            async with client.stream(req.method, req.url, headers=req.headers, content=req.content) as response:
                if response.status_code == 200:
                    body = await first_chunk(response)  # the stream started; that is enough
                else:
                    body = await response.aread()
        else:
            response = await client.request(req.method, req.url, headers=req.headers, content=req.content)
            body = response.content
    return Answer(response.status_code, response.headers.get("content-type", ""), body)


def _cap(req: Req, created: dict[str, int]) -> Req:
    """Keep fuzzed bodies from creating more than a handful of objectives (fake teams) and targets."""
    if req.method != "POST" or req.template not in ("/api/objectives", "/api/targets") or not req.content:
        return req
    if created[req.template] < MAX_CREATED:
        return req
    try:
        body = json.loads(req.content)
    except (ValueError, RecursionError):
        return req
    if not isinstance(body, dict):
        return req
    if req.template == "/api/objectives":
        body["agent"] = "no-such-agent"
    else:
        body["name"] = ""
    return attrs.evolve(req, content=json.dumps(body).encode())


def _check(doc: dict[str, Any], error_schema: dict[str, Any], req: Req, answer: Answer) -> None:
    assert answer.status < 500, (req, answer)
    operation = doc["paths"][req.template].get(req.method.lower())
    # a method the route does not take: the gate's refusals come first, then 405 (or 404: no such route)
    documented = set(operation["responses"]) if operation else {"401", "403", "404", "405", "413", "415", "421"}
    assert str(answer.status) in documented, (req, answer.status, answer.body[:300], sorted(documented))
    if answer.status >= 400:
        assert answer.content_type.startswith("application/json"), (req, answer)
        jsonschema.validate(json.loads(answer.body), error_schema)
    elif not req.stream:
        assert answer.content_type.startswith("application/json"), (req, answer)
        json.loads(answer.body)


async def test_fuzz_the_http_api_from_its_openapi_document(tmp_path):
    providers = {
        "claude": FakeProvider(_idle_team, name="claude"),
        "codex": FakeProvider(_idle_team, name="codex", interactive=False),
    }
    async with served(tmp_path, token=TOKEN, providers=providers) as srv:
        doc = (await srv.client.get("/api/openapi.json")).json()
        objective = (await srv.client.post("/api/objectives", json={"title": "real", "agent": "claude"})).json()
        manager = objective["manager_session_id"]
        await eventually(lambda: bool(srv.store.list_questions(objective_id=objective["id"])))
        ids = {
            "objective_id": [objective["id"]],
            "session_id": [manager],
            "question_id": [q.id for q in srv.store.list_questions(objective_id=objective["id"])],
            "target_id": [t.id for t in srv.store.list_targets()],
        }
        components = doc["components"]["schemas"]
        error_schema = {**components["Error"], "$defs": {}}
        anonymous = httpx.AsyncClient(base_url=srv.url, timeout=TIMEOUT)
        clients = {True: srv.client, False: anonymous}
        sent: list[Req] = []
        covered: set[tuple[str, str]] = set()
        created = {"/api/objectives": 0, "/api/targets": 0}
        statuses: collections.Counter[tuple[str, str, int]] = collections.Counter()

        async def send_and_check(req: Req) -> None:
            req = _cap(req, created)
            answer = await _send(clients, req)
            sent.append(req)
            covered.add((req.method.lower(), req.template))
            statuses[req.method, req.template, answer.status] += 1
            if answer.status == 201:
                created[req.template] += 1
            _check(doc, error_schema, req, answer)

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=(Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(req=requests(doc, ids, str(tmp_path / "targets")))
        def property_holds(req: Req) -> None:
            trio.from_thread.run(send_and_check, req)

        started = time.monotonic()
        async with anonymous:
            await trio.to_thread.run_sync(property_holds)
        elapsed = time.monotonic() - started

        assert len(sent) >= 1000, len(sent)
        operations = {(m, p) for p, item in doc["paths"].items() for m in item}
        assert operations <= covered, sorted(operations - covered)
        # the server still answers normally, and nothing a fuzzed request made answers 500 later
        assert (await srv.client.get("/healthz")).json() == {"status": "ok"}
        for path in ("/api/dashboard", "/api/objectives", "/api/targets", "/api/questions", "/api/prs"):
            assert (await srv.client.get(path)).status_code == 200, path
        for target in (await srv.client.get("/api/targets")).json()["items"]:
            assert (await srv.client.post(f"/api/targets/{target['id']}/doctor", json={})).status_code < 500
        again = await srv.client.post("/api/objectives", json={"title": "after the fuzz", "agent": "codex"})
        assert again.status_code == 201, again.text
        assert (await srv.client.get(f"/api/sessions/{again.json()['manager_session_id']}")).status_code == 200
        print(f"fuzz: {len(sent)} requests in {elapsed:.1f}s; created {created}")
        for (method, template, status), count in sorted(statuses.items()):
            print(f"  {method} {template} {status}: {count}")
