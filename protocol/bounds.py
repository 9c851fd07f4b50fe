"""Bounds of the wire contract: the range of every number, the size of every string, list and message.

Why bounds at all: a value that passes the contract is handed to operators that cannot hold everything
Python can (Flink's int64 coders and timers, numpy ``int64`` arrays, JSON consumers that read numbers as
doubles), and to arithmetic that must not see ``inf`` (``math.ceil(inf)`` raises). So:

* every integer lies in ``[-MAX_SAFE_INT, MAX_SAFE_INT]`` (exact in a double, far inside int64), or in a
  tighter range where the field has one (counts, times, durations);
* every float is finite;
* every time lies in a sane range for its unit: input events carry event time (maritime: epoch seconds,
  finance: epoch milliseconds) between :data:`EPOCH_S_MIN` and :data:`EPOCH_S_MAX` (1990 to 2100, in the
  domain's unit). Control messages carry *stream time* in the unit of the deployment's domain, which the
  message itself does not name, and may carry bucket or interval boundaries that lie before the first event,
  so their range is ``[0, STREAM_TIME_MAX]`` (2100 in milliseconds, the larger unit's bound). Wall-clock
  milliseconds (a dead letter's ``timestamp_ms``) use the 1990-2100 range in ms;
* every string, list and whole message has a maximum size, so one record cannot exhaust memory or make a
  file name, a log line or a Kafka record too large.

The annotated types below are the vocabulary :mod:`protocol.messages` declares its fields with.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# ---------------------------------------------------------------------------------------------- numbers

MAX_SAFE_INT = 2**53 - 1
"""Largest integer every consumer holds exactly (a double's 53-bit mantissa; far inside int64)."""

EPOCH_S_MIN = 631_152_000
"""1990-01-01T00:00:00Z in epoch seconds: the earliest event time an input event may carry."""

EPOCH_S_MAX = 4_102_444_800
"""2100-01-01T00:00:00Z in epoch seconds: the latest event time an input event may carry."""

EPOCH_MS_MIN = EPOCH_S_MIN * 1000
"""1990-01-01 in epoch milliseconds (finance event times, wall-clock ``*_ms`` fields)."""

EPOCH_MS_MAX = EPOCH_S_MAX * 1000
"""2100-01-01 in epoch milliseconds."""

STREAM_TIME_MAX = EPOCH_MS_MAX
"""Largest stream time a control message may carry: 2100 in the larger of the two stream units."""

MAX_SPAN_MS = EPOCH_MS_MAX - EPOCH_MS_MIN
"""Longest duration between two valid event times, in ms (bound of a transaction's ``time_diff``)."""

MAX_PRODUCTION_TIME_S = 366 * 24 * 3600.0
"""Longest production time (seconds) a factory report or a play may announce: one year."""

# ---------------------------------------------------------------------------------------------- strings

MAX_ID_CHARS = 128
"""Ids and keys: message, session and model ids, ``mmsi``, ``pan``, forecast keys."""

MAX_NAME_CHARS = 255
"""Topic and job names (Kafka allows 249 characters in a topic name)."""

MAX_PATH_CHARS = 4096
"""Paths of claim checks and model files (Linux ``PATH_MAX``)."""

MAX_REASON_CHARS = 4096
"""Free text: a dead letter's reason, a factory report's error."""

MAX_PAYLOAD_CHARS = 64 * 1024
"""The raw payload a dead letter carries (longer payloads are cut to this many characters)."""

MAX_BUCKETS = 10_000
"""Buckets listed by one dataset version or one assembly ACK."""

# --------------------------------------------------------------------------------------------- messages

MAX_EVENT_BYTES = 64 * 1024
"""An input event (UTF-8 bytes of its JSON text)."""

MAX_CONTROL_BYTES = 64 * 1024
"""A control or output message: instructions, commands, reports, syncs, forecasts, scores."""

MAX_CLAIM_CHECK_BYTES = 1024 * 1024
"""A message that lists bucket paths or starts: a dataset version, an assembly ACK."""

MAX_DEAD_LETTER_BYTES = 512 * 1024
"""A dead letter: a 64 Ki-character payload may take up to 6 bytes per character once escaped."""

# ------------------------------------------------------------------------------------ annotated types

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
"""Any finite float (``inf`` and ``nan`` never pass)."""

SafeInt = Annotated[int, Field(ge=-MAX_SAFE_INT, le=MAX_SAFE_INT)]
"""An integer without a tighter domain (a code, a category)."""

Count = Annotated[int, Field(ge=0, le=MAX_SAFE_INT)]
"""A count, a version, a sequence number: never negative."""

Index = Annotated[int, Field(ge=-1, le=MAX_SAFE_INT)]
"""A step or position where ``-1`` means "none"."""

EpochSeconds = Annotated[int, Field(ge=EPOCH_S_MIN, le=EPOCH_S_MAX)]
"""Event time of a maritime input event."""

EpochMillis = Annotated[int, Field(ge=EPOCH_MS_MIN, le=EPOCH_MS_MAX)]
"""Event time of a finance input event; wall-clock milliseconds."""

StreamTime = Annotated[int, Field(ge=0, le=STREAM_TIME_MAX)]
"""Stream time in a control message (seconds or milliseconds, by the deployment's domain)."""

DurationMillis = Annotated[int, Field(ge=-MAX_SPAN_MS, le=MAX_SPAN_MS)]
"""A signed difference between two event times in milliseconds."""

ProductionSeconds = Annotated[float, Field(ge=0.0, le=MAX_PRODUCTION_TIME_S, allow_inf_nan=False)]
"""Wall-clock seconds spent producing a model."""

Id = Annotated[str, Field(max_length=MAX_ID_CHARS)]
"""An id or key that may be empty (an absent reference)."""

RequiredId = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
"""An id or key that must be present."""

Name = Annotated[str, Field(max_length=MAX_NAME_CHARS)]
"""A topic or job name."""

PathText = Annotated[str, Field(max_length=MAX_PATH_CHARS)]
"""A path that may be empty (no path)."""

RequiredPath = Annotated[str, Field(min_length=1, max_length=MAX_PATH_CHARS)]
"""A path that must be present."""

Reason = Annotated[str, Field(max_length=MAX_REASON_CHARS)]
"""Free text explaining a failure."""

Payload = Annotated[str, Field(max_length=MAX_PAYLOAD_CHARS)]
"""A raw payload kept as text."""
