"""Parsing and dumping of wire messages.

:func:`decode` is what a job's first operator calls on a raw Kafka value: it returns the typed model, or
raises :class:`DecodeError` carrying a one-line reason that the job puts in a :class:`DeadLetter`.
:func:`encode` is what the last operator calls; the JSON it writes is compact and has a stable key order.
"""

from __future__ import annotations

import time
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from protocol.messages import DeadLetter

M = TypeVar("M", bound=BaseModel)

_MAX_PAYLOAD_IN_DEAD_LETTER = 64 * 1024


class DecodeError(ValueError):
    """A payload is not valid JSON or not a valid message of the expected type."""


def decode(model: type[M], raw: bytes | str) -> M:
    """Parse ``raw`` JSON into ``model``; raise :class:`DecodeError` with a readable reason."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "<message>"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise DecodeError(f"{model.__name__}: {where}: {first.get('msg', 'invalid')}{more}") from None
    except (UnicodeDecodeError, ValueError) as exc:  # pragma: no cover - pydantic wraps most of these
        raise DecodeError(f"{model.__name__}: {exc}") from None


def encode(message: BaseModel) -> str:
    """Dump a message as compact JSON text (the form every sink writes)."""
    return message.model_dump_json()


def dead_letter(*, source_topic: str, job: str, reason: str, payload: bytes | str) -> DeadLetter:
    """Wrap an unusable payload with the reason it was rejected (payload truncated past 64 KiB)."""
    text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload
    return DeadLetter(
        source_topic=source_topic,
        job=job,
        reason=reason,
        payload=text[:_MAX_PAYLOAD_IN_DEAD_LETTER],
        timestamp_ms=int(time.time() * 1000),
    )
