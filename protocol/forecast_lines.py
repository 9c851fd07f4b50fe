"""The ``forecasts`` topic's records written as JSON text directly, for the engine's per-event path.

:func:`protocol.codec.encode` builds a validated :class:`~protocol.messages.ForecastRecord` and runs the
serialiser, which cost as much per forecast as validating the event that caused it. The engine's values are
valid by construction (the key comes from a decoded event, the model id from a validated PLAY, the interval
from the model's table), so :func:`forecast_line` formats them in the model's field order. Its output
decodes, under the strict decoder, to the record ``encode`` would write (tested on generated values); the
only textual difference is Python's float spelling (``1e-05`` for the serialiser's ``1e-5``).
"""

from __future__ import annotations

import json

from protocol.messages import SCHEMA_VERSION

__all__ = ["forecast_line"]

_QUOTED: dict[str, str] = {}
_QUOTED_LIMIT = 1 << 16


def _quoted(text: str) -> str:
    """``text`` as a JSON string (ASCII-escaped), memoised: keys and model ids repeat on every event."""
    quoted = _QUOTED.get(text)
    if quoted is None:
        quoted = json.dumps(text)
        if len(_QUOTED) >= _QUOTED_LIMIT:
            _QUOTED.clear()
        _QUOTED[text] = quoted
    return quoted


def forecast_line(
    key: str, timestamp: int, model_id: str, probability: float, start: int, end: int, positive: bool
) -> str:
    """One ``ForecastRecord`` as a JSON line; the probability is clamped to [0, 1] (NaN becomes 0)."""
    p = float(probability)
    p = 0.0 if not p >= 0.0 else min(p, 1.0)
    return (
        f'{{"schema_version":{SCHEMA_VERSION},"key":{_quoted(key)},"timestamp":{int(timestamp)},'
        f'"model_id":{_quoted(model_id)},"probability":{p!r},"start":{int(start)},"end":{int(end)},'
        f'"positive":{"true" if positive else "false"}}}'
    )
