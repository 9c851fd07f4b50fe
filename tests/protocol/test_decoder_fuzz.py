"""Hypothesis fuzz of every decoder: no input makes one raise anything but :class:`DecodeError`.

The message models are enumerated from :mod:`protocol.messages`, so a new model is fuzzed without a change
here. For each: arbitrary bytes, arbitrary text, arbitrary JSON values (also objects keyed by the model's
own field names), and mutations of its golden message. Whatever decodes must re-encode to JSON that decodes
to the same message. Then the decoders the jobs run on raw records: the parsers of the collector, controller
and inference job, the controller's key selectors, the inference job's shard function and batch reader, the
engine's per-event decode, and the dead-letter router.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from metric_fakes import FakeMetricsRuntime
from pydantic import BaseModel

from collector_job.parse_acks import ParseAcks
from collector_job.parse_events import ParseEvents, parse_event
from controller_job.controller_process import instruction_key, report_key
from controller_job.parse_messages import ParseMessages as ControllerParse
from flink_common.dead_letters import route_dead_letter
from flink_common.io import string_tag
from inference_job.event_batches import events_of, shard_of_raw
from inference_job.parse_messages import ParseMessages as InferenceParse
from protocol import bounds, messages
from protocol.codec import DecodeError, decode, encode
from protocol.settings import Domain

GOLDEN = Path(__file__).resolve().parent / "golden"

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def wire_models() -> list[type[BaseModel]]:
    """Every public model of :mod:`protocol.messages` (nested ones too: each is decodable on its own)."""
    found = [
        obj
        for name, obj in vars(messages).items()
        if isinstance(obj, type)
        and issubclass(obj, BaseModel)
        and obj.__module__ == messages.__name__
        and not name.startswith("_")
    ]
    return sorted(found, key=lambda model: model.__name__)


MODELS = wire_models()
GOLDEN_TEXT: dict[type[BaseModel], str] = {}
for _path in GOLDEN.glob("*.json"):
    _model = next(m for m in MODELS if m.__name__.lower() == _path.stem.replace("_", ""))
    GOLDEN_TEXT[_model] = _path.read_text(encoding="utf-8")


def test_the_enumeration_covers_every_topic_model_and_golden_file() -> None:
    topic_models = set(typing.get_args(messages.Message)) | set(typing.get_args(messages.InputEvent))
    assert topic_models <= set(MODELS)
    assert set(GOLDEN_TEXT) == topic_models
    assert {messages.MetricSet, messages.Hyperparameters} <= set(MODELS)


def outcome(model: type[BaseModel], raw: Any) -> BaseModel | None:
    """Decode ``raw``; a message must round-trip exactly, a refusal must have a one-line reason."""
    try:
        message = decode(model, raw)
    except DecodeError as exc:
        reason = str(exc)
        assert reason.startswith(f"{model.__name__}: ") and "\n" not in reason and len(reason) <= 500
        return None
    text = encode(message)
    again = decode(model, text)
    assert again == message and encode(again) == text
    assert len(text.encode()) <= model.max_message_bytes  # type: ignore[attr-defined]
    return message


# ------------------------------------------------------------------------------------------ strategies

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, -1, 1, bounds.MAX_SAFE_INT, bounds.MAX_SAFE_INT + 1, bounds.EPOCH_S_MIN, 10**16])
    | st.floats()
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def keyed_objects(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects whose keys are mostly the model's own fields, so that validation (not parsing) is fuzzed."""
    keys = st.sampled_from(sorted(model.model_fields)) | st.text(max_size=6)
    return st.dictionaries(keys, json_values, max_size=len(model.model_fields) + 2)


def dumps(value: Any) -> str:
    """JSON text of ``value``; non-finite floats are written as the NaN/Infinity literals Python emits."""
    return json.dumps(value, allow_nan=True)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found.extend(_paths(child, (*prefix, i)))
    return found


@st.composite
def mutated_golden(draw: st.DrawFn, model: type[BaseModel]) -> str | bytes:
    """The golden message of ``model`` with one structural or textual mutation."""
    text = GOLDEN_TEXT[model]
    data = json.loads(text)
    kind = draw(st.sampled_from(["replace", "delete", "add", "duplicate", "text", "bytes"]))
    if kind in ("replace", "delete", "add"):
        path = draw(st.sampled_from(_paths(data)[1:]))
        *parents, last = path
        parent = data
        for part in parents:
            parent = parent[part]
        if kind == "replace":
            parent[last] = draw(json_values | scalars)
        elif kind == "delete":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_values)
        else:
            parent.insert(last, draw(json_values))
        return dumps(data)
    if kind == "duplicate":
        key = draw(st.sampled_from(sorted(data)))
        return dumps(data)[:-1] + f", {json.dumps(key)}: {dumps(draw(scalars))}}}"
    if kind == "text":
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 3))
        return text[:at] + draw(st.text(max_size=3)) + text[at + cut :]
    raw = text.encode()
    at = draw(st.integers(0, len(raw) - 1))
    return raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]


# ------------------------------------------------------------------------------------ protocol.decode


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@FUZZ
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes(model: type[BaseModel], raw: bytes) -> None:
    outcome(model, raw)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@FUZZ
@given(raw=st.text(max_size=200))
def test_arbitrary_text(model: type[BaseModel], raw: str) -> None:
    outcome(model, raw)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@FUZZ
@given(data=st.data())
def test_arbitrary_json_values(model: type[BaseModel], data: st.DataObject) -> None:
    value = data.draw(json_values | keyed_objects(model))
    outcome(model, dumps(value))
    outcome(model, dumps(value).encode())


GOLDEN_MODELS = sorted(GOLDEN_TEXT, key=lambda m: m.__name__)


@pytest.mark.parametrize("model", GOLDEN_MODELS, ids=[m.__name__ for m in GOLDEN_MODELS])
@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_mutated_golden_messages(model: type[BaseModel], data: st.DataObject) -> None:
    outcome(model, data.draw(mutated_golden(model)))


# ------------------------------------------------------------------------------- the jobs' decoders


def any_payload(model: type[BaseModel]) -> st.SearchStrategy[str]:
    """Text a job may receive where it expects ``model``: mutated goldens, arbitrary JSON or text."""
    texts = mutated_golden(model).map(lambda r: r if isinstance(r, str) else r.decode("utf-8", "replace"))
    return texts | json_values.map(dumps) | st.text(max_size=100)


@FUZZ
@given(data=st.data(), domain=st.sampled_from(list(Domain)))
def test_collector_event_parser(data: st.DataObject, domain: Domain) -> None:
    model = messages.MaritimeEvent if domain is Domain.MARITIME else messages.CardTransaction
    raw = data.draw(any_payload(model))
    try:
        parsed = parse_event(domain, raw)
    except DecodeError:
        return
    assert parsed.payload == raw and parsed.ts == parsed.record["timestamp"]
    json.dumps(parsed.record, allow_nan=False)  # the bucket row is finite JSON


def first_operator_outputs(parser: Any, raw: str) -> list[Any]:
    """Run a first operator on one record; a refusal must be exactly one decodable dead letter."""
    runtime = FakeMetricsRuntime()
    parser.open(runtime)
    out = list(parser.process_element(raw, None))
    assert len(out) == 1
    if isinstance(out[0], tuple):
        tag, text = out[0]
        letter = decode(messages.DeadLetter, text)
        assert tag is parser.dead_tag and letter.reason and runtime.dead_letters() == 1
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            return out  # unpaired surrogates are carried as U+FFFD
        assert letter.payload == raw[: bounds.MAX_PAYLOAD_CHARS]
    return out


PARSERS: list[tuple[str, Any, type[BaseModel]]] = [
    (
        "collector events",
        lambda: ParseEvents(Domain.MARITIME, "input", string_tag("d")),
        messages.MaritimeEvent,
    ),
    (
        "collector cards",
        lambda: ParseEvents(Domain.FINANCE, "input", string_tag("d")),
        messages.CardTransaction,
    ),
    ("collector acks", lambda: ParseAcks("assembly_reports", string_tag("d")), messages.AssemblyAck),
    (
        "controller instructions",
        lambda: ControllerParse(messages.Instruction, "instructions", string_tag("d")),
        messages.Instruction,
    ),
    (
        "controller reports",
        lambda: ControllerParse(messages.FactoryReport, "factory_reports", string_tag("d")),
        messages.FactoryReport,
    ),
    ("inference syncs", lambda: InferenceParse(messages.EngineSync, "enginesync"), messages.EngineSync),
]


@pytest.mark.parametrize(("make", "model"), [p[1:] for p in PARSERS], ids=[p[0] for p in PARSERS])
@FUZZ
@given(data=st.data())
def test_first_operators_emit_a_record_or_a_dead_letter(make: Any, model: type[BaseModel], data: Any) -> None:
    first_operator_outputs(make(), data.draw(any_payload(model)))


@FUZZ
@given(data=st.data())
def test_controller_key_selectors(data: st.DataObject) -> None:
    for selector, model in ((instruction_key, messages.Instruction), (report_key, messages.FactoryReport)):
        try:
            key = selector(data.draw(any_payload(model)))
        except DecodeError:
            continue
        assert isinstance(key, str)


@FUZZ
@given(raw=any_payload(messages.MaritimeEvent) | st.just("[" * 5_000), shards=st.integers(1, 64))
def test_inference_shard_function_never_fails(raw: str, shards: int) -> None:
    assert 0 <= shard_of_raw(raw, "mmsi", shards) < shards


@FUZZ
@given(events=st.lists(st.text(max_size=50), max_size=10))
def test_inference_batch_reader_returns_the_raw_events(events: list[str]) -> None:
    assert events_of(json.dumps(events)) == events


@pytest.mark.parametrize(
    "model", [messages.MaritimeEvent, messages.CardTransaction], ids=lambda m: m.__name__
)
@FUZZ
@given(data=st.data())
def test_engine_event_decode_gives_finite_json_records(model: type[BaseModel], data: st.DataObject) -> None:
    """What the engine does with each raw event of a batch: decode, then the JSON form of the event."""
    try:
        event = decode(model, data.draw(any_payload(model))).model_dump(mode="json")
    except DecodeError:
        return
    json.dumps(event, allow_nan=False)
    key = "mmsi" if model is messages.MaritimeEvent else "pan"
    assert isinstance(event[key], str) and 0 < len(event[key]) <= bounds.MAX_ID_CHARS


@FUZZ
@given(raw=json_values.map(dumps) | st.text(max_size=100) | st.just("[" * 5_000))
def test_dead_letter_router_never_fails(raw: str) -> None:
    assert route_dead_letter(raw, {"input": "input.dlq"}, "dead_letters") in ("input.dlq", "dead_letters")
