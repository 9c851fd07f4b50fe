"""Parsing and dumping of wire messages.

:func:`decode` is what a job's first operator calls on a raw Kafka value: it returns the typed model, or
raises :class:`DecodeError` carrying a one-line reason that the job puts in a :class:`DeadLetter`. It raises
nothing else, whatever the input: a record can never stop a job. What it checks, in order:

1. the value is bytes or text, and text is valid UTF-8;
2. its size is within the model's ``max_message_bytes`` (checked before any parsing);
3. it is JSON without duplicated keys, ``NaN``/``Infinity`` literals or nesting deeper than the parser's
   limit (a pre-pass with jiter, the parser pydantic itself uses, which can report duplicates: pydantic
   alone would silently keep the last of two equal keys);
4. it is a valid message in pydantic's strict JSON mode: no ``"1"``, ``true`` or ``1.0`` for an integer,
   no ``"1"`` or ``true`` for a float (an integer for a float is fine), enums from their JSON strings,
   and every bound of :mod:`protocol.bounds`.

:func:`encode` is what the last operator calls; the JSON it writes is compact and has a stable key order.
"""

from __future__ import annotations

import time
from typing import Any, TypeVar

import jiter
from pydantic import BaseModel, ValidationError

from protocol.bounds import (
    EPOCH_MS_MAX,
    EPOCH_MS_MIN,
    MAX_CONTROL_BYTES,
    MAX_NAME_CHARS,
    MAX_PAYLOAD_CHARS,
    MAX_REASON_CHARS,
)
from protocol.messages import DeadLetter

M = TypeVar("M", bound=BaseModel)

_MAX_REASON_SHOWN = 500
"""Longest reason :func:`decode` writes (a reason names the rule broken, not the payload)."""
_MAX_LOC_PART = 64
"""Longest field name or key shown in a reason (an unknown key may be as long as the message)."""


TOMBSTONE = "<tombstone: a Kafka record without a value>"
"""What a job's Kafka source hands on for a record whose value is null (a tombstone): no message type can
decode it, so it is dead-lettered with the reason "tombstone" like any other unusable record."""


class DecodeError(ValueError):
    """A payload is not valid JSON or not a valid message of the expected type."""


def decode(model: type[M], raw: bytes | str) -> M:
    """Parse ``raw`` JSON into ``model``; raise :class:`DecodeError` with a readable one-line reason.

    The steps and rules are listed in the module docstring; any other failure of the parser or of a
    validator is reported as a :class:`DecodeError` too, naming the exception.
    """
    name = model.__name__
    if raw == TOMBSTONE:
        raise DecodeError(f"{name}: tombstone (the record has no value)")
    limit: int = getattr(model, "max_message_bytes", MAX_CONTROL_BYTES)
    data = _as_bytes(name, raw, limit)
    if len(data) > limit:
        raise DecodeError(f"{name}: message is {len(data)} bytes, over the limit of {limit} bytes")
    try:
        jiter.from_json(data, allow_inf_nan=False, catch_duplicate_keys=True, cache_mode="keys")
    except ValueError as exc:
        raise DecodeError(_one_line(f"{name}: {_json_problem(data, str(exc))}")) from None
    except Exception as exc:
        raise DecodeError(_one_line(f"{name}: invalid JSON ({type(exc).__name__}: {exc})")) from None
    try:
        return model.model_validate_json(data, strict=True)
    except ValidationError as exc:
        raise DecodeError(_validation_reason(name, exc)) from None
    except Exception as exc:
        raise DecodeError(_one_line(f"{name}: {type(exc).__name__}: {exc}")) from None


def _as_bytes(name: str, raw: Any, limit: int) -> bytes:
    """``raw`` as UTF-8 bytes; text too long for ``limit`` is refused before it is encoded."""
    if isinstance(raw, str):
        if len(raw) > limit:
            size = f"{len(raw)} bytes" if raw.isascii() else f"at least {len(raw)} bytes"
            raise DecodeError(f"{name}: message is {size}, over the limit of {limit} bytes")
        try:
            return raw.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise DecodeError(f"{name}: text is not valid Unicode ({exc.reason} at {exc.start})") from None
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    if raw is None:
        raise DecodeError(f"{name}: no value (a null record)")
    raise DecodeError(f"{name}: expected bytes or text, got {type(raw).__name__}")


def _json_problem(data: bytes, message: str) -> str:
    """The parser's complaint as a reason: bytes that are not UTF-8 and duplicated keys are named as such."""
    prefix = "Detected duplicate key "
    if message.startswith(prefix):
        return f"duplicated key {message[len(prefix) :]} (a key may appear once per object)"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    return f"invalid JSON: {message}"


def _validation_reason(name: str, exc: ValidationError) -> str:
    """``<Model>: <field path>: <what is wrong> (+n more)``, from the first of the errors."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    where = ".".join(str(p)[:_MAX_LOC_PART] for p in first.get("loc", ())) or "<message>"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    what = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return _one_line(f"{name}: {where}: {what}{more}")


def _one_line(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped, cut to a readable length."""
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text[: 4 * _MAX_REASON_SHOWN])
    return text if len(text) <= _MAX_REASON_SHOWN else text[: _MAX_REASON_SHOWN - 3] + "..."


def encode(message: BaseModel) -> str:
    """Dump a message as compact JSON text (the form every sink writes)."""
    return message.model_dump_json()


def dead_letter(*, source_topic: str, job: str, reason: str, payload: bytes | str) -> DeadLetter:
    """Wrap an unusable payload with the reason it was rejected.

    This is the path of last resort, so it cannot fail on what it wraps: bytes that are not UTF-8 (and
    unpaired surrogates in text) read as U+FFFD, the payload is cut to 64 Ki characters, the reason and the
    names to their limits, and a wall clock outside 1990-2100 is clamped into the contract's range.
    """
    text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else _encodable(payload)
    now_ms = min(max(int(time.time() * 1000), EPOCH_MS_MIN), EPOCH_MS_MAX)
    return DeadLetter(
        source_topic=_encodable(source_topic)[:MAX_NAME_CHARS],
        job=_encodable(job)[:MAX_NAME_CHARS],
        reason=_encodable(reason)[:MAX_REASON_CHARS],
        payload=text[:MAX_PAYLOAD_CHARS],
        timestamp_ms=now_ms,
    )


def _encodable(text: str) -> str:
    """``text`` with unpaired surrogates (which UTF-8 cannot hold) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="surrogatepass").decode("utf-8", errors="replace")
    return text
