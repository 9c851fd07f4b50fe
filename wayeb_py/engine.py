"""Streaming SPST engine: an immutable learned model and a pure per-event `step` over small run states.

Per event (Wayeb's run loop for SPST models):

1. A reset event (``timestamp == -1`` or ``type == "RESET"``) puts the run back into warm-up: SDFA start,
   empty buffer. The counter and pending forecasts are kept.
2. The event's symbol is pushed into the context buffer (last ``order + 1`` symbols, most recent first).
3. Warm-up: the run starts only once the deepest PST node for the buffer is a leaf; the SDFA starts from its
   start state at that event. Earlier events produce nothing.
4. The counter increases, the SDFA moves, the PST node is re-derived from the whole buffer, and a detection is
   reported when the SDFA state is final.
5. Pending forecasts are resolved: a hit when this event is a detection inside the forecast's interval,
   a miss once the interval has passed.
6. A forecast is read from the precomputed table for the new virtual state (not after a detection unless
   ``finals_enabled``) and becomes pending.

`SPSTModel.adopt` moves a run to another model of the same pattern by keeping the SDFA state and rebuilding
the PST node from the retained buffer; state ids of the old model are never reused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .evaluation import ZERO, Metrics
from .forecasting import ForecastParams, ForecastTable, VirtualAutomaton, build_forecast_table
from .model_file import (
    CONTENT_ERRORS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    ModelFileError,
    PatternDecoder,
    decode_parts,
    read_document,
    read_document_bytes,
    write_model,
)
from .pst import LearnParams, PredictionSuffixTree
from .runstate import IDLE, Forecast, RunState, StepResult

__all__ = ["Forecast", "RunState", "SPSTModel", "StepResult", "is_reset_event"]

RESET_TIMESTAMP = -1
_CONTEXT_CACHE_LIMIT = 200_000


def is_reset_event(event: Mapping[str, Any]) -> bool:
    """Whether an event is a reset marker (Wayeb's ``ResetEvent``: timestamp -1 in the maritime formats)."""
    ts = event.get("timestamp")
    return (ts is not None and ts == RESET_TIMESTAMP) or event.get("type") == "RESET"


def _digest(obj: Any) -> str:
    """Short stable hash of a JSON-serialisable object."""
    raw = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _sdfa_dict(sdfa: Any) -> dict[str, Any]:
    """Canonical SDFA content (works for the real SDFA and for duck-typed stand-ins)."""
    return {
        "delta": np.asarray(sdfa.delta).astype(int).tolist(),
        "start": int(sdfa.start),
        "finals": sorted(int(f) for f in sdfa.finals),
    }


def _symbolizer_dict(symbolizer: Any) -> Any:
    to_dict = getattr(symbolizer, "to_dict", None)
    return to_dict() if callable(to_dict) else None


class SPSTModel:
    """A learned SPST: pattern (SDFA + symbolizer), PST, forecast table, hyperparameters and provenance.

    Instances are immutable after construction; the only internal mutation is a bounded memo of
    context -> PST node lookups, which does not change results.
    """

    __slots__ = (
        "pattern",
        "pst",
        "learn_params",
        "forecast_params",
        "provenance",
        "va",
        "table",
        "key",
        "sdfa_key",
        "_delta",
        "_finals",
        "_start",
        "_q",
        "_leaf",
        "_cap",
        "_rows",
        "_ctx_cache",
        "_finals_enabled",
    )

    def __init__(
        self,
        pattern: Any,
        pst: PredictionSuffixTree,
        learn_params: LearnParams,
        forecast_params: ForecastParams,
        provenance: Mapping[str, Any] | None = None,
        *,
        table: ForecastTable | None = None,
    ) -> None:
        sdfa = pattern.sdfa
        va = VirtualAutomaton.from_sdfa(pst, sdfa)
        self.pattern = pattern
        self.pst = pst
        self.learn_params = learn_params
        self.forecast_params = forecast_params
        self.provenance: dict[str, Any] = dict(provenance or {})
        self.va = va
        self.table = table if table is not None else build_forecast_table(va, forecast_params)
        self.sdfa_key = _digest(
            {"sdfa": _sdfa_dict(sdfa), "symbolizer": _symbolizer_dict(pattern.symbolizer)}
        )
        self.key = _digest(
            {"sdfa": self.sdfa_key, "pst": pst.to_dict(), "forecast": forecast_params.to_dict()}
        )
        self._delta: list[list[int]] = va.delta.tolist()
        self._finals = va.finals
        self._start = va.start
        self._q = va.n_states
        self._leaf: list[bool] = pst.is_leaf.tolist()
        self._cap = pst.max_order + 1
        self._rows = self.table.rows
        self._ctx_cache: dict[tuple[int, ...], int] = {}
        self._finals_enabled = forecast_params.finals_enabled

    # ------------------------------------------------------------------ construction helpers
    def with_forecast_params(self, params: ForecastParams) -> SPSTModel:
        """The same learned model with other forecasting settings (recomputes only the table)."""
        return SPSTModel(self.pattern, self.pst, self.learn_params, params, self.provenance)

    @property
    def symbolizer(self) -> Any:
        """The pattern's event -> symbol mapping."""
        return self.pattern.symbolizer

    @property
    def partition_by(self) -> str | None:
        """The pattern's partition attribute, if any."""
        return getattr(self.pattern, "partition_by", None)

    # ------------------------------------------------------------------ run API
    def new_run(self) -> RunState:
        """A fresh run state (warm-up, empty buffer)."""
        return RunState(model_key=self.key, sdfa_key=self.sdfa_key, sdfa_state=self._start)

    def step(self, state: RunState, event: Mapping[str, Any]) -> tuple[RunState, StepResult]:
        """Process one event; returns the new state and what happened. Pure: ``state`` is not modified."""
        if is_reset_event(event):
            self._check_owner(state)  # a non-reset event is checked by step_many
            return self.reset(state), IDLE
        ts = event.get("timestamp", 0)
        return self.step_symbol(
            state, self.pattern.symbolizer.symbol(event), int(ts) if ts is not None else 0
        )

    def reset(self, state: RunState) -> RunState:
        """Apply a reset event: back to warm-up with an empty buffer (counter and pending forecasts kept)."""
        return replace(state, started=False, sdfa_state=self._start, node=0, buffer=())

    def step_symbol(self, state: RunState, symbol: int, timestamp: int = 0) -> tuple[RunState, StepResult]:
        """`step` for an already symbolised, non-reset event: `step_many` over that one event."""
        new, results = self.step_many(state, (symbol,), (timestamp,))
        return new, results[0]

    def step_many(
        self, state: RunState, symbols: Sequence[int], timestamps: Sequence[int]
    ) -> tuple[RunState, list[StepResult]]:
        """`step_symbol` over a run of one key's already symbolised events (symbol ``-1`` = a reset event).

        Equal to stepping the events one by one (state and results), but the run is walked on local
        variables and the run state is built once at the end instead of once per event: this is the
        engine's batch path, where a shard's batch holds several events of a key.
        """
        self._check_owner(state)
        cap, start, delta, finals, leaf, rows, n_q = (
            self._cap, self._start, self._delta, self._finals, self._leaf, self._rows, self._q
        )  # fmt: skip
        finals_enabled, deepest = self._finals_enabled, self._deepest
        started, q, node, buf = state.started, state.sdfa_state, state.node, state.buffer
        counter, pending, detections = state.counter, state.pending, state.detections
        results: list[StepResult] = []
        append = results.append
        for symbol, timestamp in zip(symbols, timestamps, strict=True):
            if symbol < 0:
                started, q, node, buf = False, start, 0, ()
                append(IDLE)
                continue
            buf = (symbol, *buf[: cap - 1])
            node = deepest(buf)
            if not started:
                if not leaf[node]:
                    append(IDLE)
                    continue
                started, q = True, start
            counter += 1
            q = delta[q][symbol]
            detected = q in finals
            resolved = ZERO
            if pending:
                tp = tn = fp = fn = 0
                keep = []
                for item in pending:
                    s, e, pos = item
                    if detected and s <= counter <= e:
                        if pos:
                            tp += 1
                        else:
                            fn += 1
                    elif e <= counter:
                        if pos:
                            fp += 1
                        else:
                            tn += 1
                    else:
                        keep.append(item)
                if len(keep) != len(pending):
                    resolved = _metrics(tp, tn, fp, fn)
                    pending = tuple(keep)
            forecast = None
            if finals_enabled or not detected:
                v = node * n_q + q
                row = rows[v]
                if row is not None:
                    prob, s, e, pos = row
                    forecast = Forecast(int(timestamp), prob, s, e, pos, counter, v)
                    pending = (*pending, (counter + s, counter + e, pos))
            if detected:
                detections += 1
            append(StepResult(forecast, detected, resolved))
        new = RunState(state.model_key, state.sdfa_key, started, q, node, buf, counter, pending, detections)
        return new, results

    def symbol_of(self, event: Mapping[str, Any]) -> int:
        """The event's symbol for `step_many`: ``-1`` for a reset event, else the pattern's symbol
        (raises the symbolizer's errors for an event it cannot map)."""
        if is_reset_event(event):
            return -1
        return int(self.pattern.symbolizer.symbol(event))

    def flush(self, state: RunState) -> tuple[RunState, Metrics]:
        """End of stream: resolve every pending forecast as a miss (Wayeb scores open intervals the same
        way)."""
        self._check_owner(state)
        tp_fp = sum(1 for _, _, pos in state.pending if pos)
        tn_fn = len(state.pending) - tp_fp
        return replace(state, pending=()), Metrics(fp=tp_fp, tn=tn_fn)

    def adopt(self, state: RunState) -> RunState:
        """Map a run state of another model of the same pattern into this model.

        Keeps the SDFA state, counter, detections and pending forecasts (absolute intervals, original
        positivity); trims the buffer to this model's ``order + 1`` and recomputes the PST node from it. A run
        that had started stays started even if the new PST would still be warming up on this buffer.

        Raises:
            ValueError: if the state belongs to a model with a different SDFA or symbol numbering.
        """
        if state.model_key == self.key:
            return state
        if state.sdfa_key and state.sdfa_key != self.sdfa_key:
            raise ValueError("cannot adopt a run state of a model with a different pattern")
        if not 0 <= state.sdfa_state < self._q or any(not 0 <= x < self.va.n_symbols for x in state.buffer):
            raise ValueError("run state does not fit this model's SDFA/alphabet (different pattern?)")
        buf = state.buffer[: self._cap]
        return replace(state, model_key=self.key, node=self._deepest(buf), buffer=buf)

    def adopt_from(self, other: SPSTModel, state: RunState) -> RunState:
        """`adopt` with an explicit check that ``other`` (the state's model) compiles the same pattern."""
        if other.sdfa_key != self.sdfa_key:
            raise ValueError(
                "cannot adopt a run state of a model with a different pattern (SDFA/symbols differ)"
            )
        other._check_owner(state)
        return self.adopt(state)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the model to a ``.spst`` file (atomic); see `wayeb_py.model_file`."""
        return write_model(self, path)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        pattern_decoder: PatternDecoder | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> SPSTModel:
        """Read a model written by `save`, within the given limits (raises `ModelFileError` on a corrupt,
        foreign, oversized or newer file)."""
        doc = read_document(path, max_bytes=max_bytes, max_depth=max_depth)
        return cls._from_source(doc, str(path), pattern_decoder)

    @classmethod
    def from_bytes(
        cls,
        raw: bytes,
        *,
        source: str = "<bytes>",
        pattern_decoder: PatternDecoder | None = None,
        max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> SPSTModel:
        """`load` for the content of a ``.spst`` file the caller has read (``source`` names it in errors)."""
        doc = read_document_bytes(raw, source=source, max_depth=max_depth)
        return cls._from_source(doc, source, pattern_decoder)

    @classmethod
    def from_document(
        cls, doc: dict[str, Any], *, pattern_decoder: PatternDecoder | None = None, verify_key: bool = True
    ) -> SPSTModel:
        """Rebuild a model from `wayeb_py.model_file.encode_model` output; the stored fingerprint must be
        the rebuilt model's (raises `ModelFileError` otherwise or on bad content)."""
        parts = decode_parts(doc, pattern_decoder=pattern_decoder)
        try:
            model = cls(parts.pattern, parts.pst, parts.learn_params, parts.forecast_params, parts.provenance)
        except CONTENT_ERRORS as exc:
            raise ModelFileError(f"invalid model content: {type(exc).__name__}: {exc}") from exc
        if verify_key and parts.model_key != model.key:
            raise ModelFileError(
                "model fingerprint mismatch: the file content does not reproduce the stored model"
            )
        return model

    @classmethod
    def _from_source(
        cls, doc: dict[str, Any], source: str, pattern_decoder: PatternDecoder | None
    ) -> SPSTModel:
        try:
            return cls.from_document(doc, pattern_decoder=pattern_decoder)
        except ModelFileError as exc:
            raise ModelFileError(f"{source}: {exc}") from exc

    # ------------------------------------------------------------------ internals
    def _check_owner(self, state: RunState) -> None:
        if state.model_key != self.key:
            raise ValueError(
                f"run state belongs to model {state.model_key}, not {self.key}; "
                "use adopt() after a model swap"
            )

    def _deepest(self, buf: tuple[int, ...]) -> int:
        node = self._ctx_cache.get(buf)
        if node is None:
            node = self.pst.deepest(buf)
            if len(self._ctx_cache) >= _CONTEXT_CACHE_LIMIT:
                self._ctx_cache.clear()
            self._ctx_cache[buf] = node
        return node

    def label(self, node: int) -> tuple[int, ...]:
        """PST label of a node id (for diagnostics)."""
        return self.pst.labels[node]

    def __repr__(self) -> str:
        return (
            f"SPSTModel(key={self.key}, order={self.pst.max_order}, pst_nodes={self.pst.n_nodes}, "
            f"sdfa_states={self._q}, symbols={self.va.n_symbols})"
        )


_METRICS_CACHE: dict[tuple[int, int, int, int], Metrics] = {}


def _metrics(tp: int, tn: int, fp: int, fn: int) -> Metrics:
    key = (tp, tn, fp, fn)
    m = _METRICS_CACHE.get(key)
    if m is None:
        m = Metrics(tp, tn, fp, fn)
        if len(_METRICS_CACHE) < 4096:
            _METRICS_CACHE[key] = m
    return m
