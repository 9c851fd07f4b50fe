"""Hand-built patterns and small models for the SPST back-end tests (no parser involved)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from wayeb_py.automata.sdfa import SDFA
from wayeb_py.engine import SPSTModel
from wayeb_py.forecasting import ForecastParams
from wayeb_py.pst import LearnParams, build_cst, learn_pst

DEMO_TYPES = (
    "AABAAACCCBBCCCCAAAACABCAACAABBCABBCACBBCCCACBCACCBABCBBAAACCACCAACCCABACBBBBBCBCCCBABBBAABCAABCCABBA"
)


class TypeSymbolizer:
    """Maps ``event["type"]`` to a symbol: the listed types get 0..k-1, anything else gets k ("other")."""

    def __init__(self, types: Sequence[str]) -> None:
        self.types = tuple(types)
        self._index = {t: i for i, t in enumerate(self.types)}
        self.n_symbols = len(self.types) + 1

    def symbol(self, event: Mapping[str, Any]) -> int:
        return self._index.get(str(event["type"]), len(self.types))

    def symbols(self, frame: pd.DataFrame) -> np.ndarray:
        return np.array([self.symbol({"type": t}) for t in frame["type"]], dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {"types": list(self.types)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TypeSymbolizer:
        return cls(d["types"])


@dataclass(frozen=True)
class HandPattern:
    """Stand-in for ``CompiledPattern`` with a hand-built SDFA."""

    sdfa: SDFA
    symbolizer: TypeSymbolizer
    order: int | None = 1
    partition_by: str | None = None
    window: int | None = None
    pattern_text: str = "<hand-built>"
    declarations_text: str = ""


def decode_hand_pattern(d: Mapping[str, Any]) -> HandPattern:
    """Pattern decoder for model files written from a `HandPattern`."""
    return HandPattern(
        SDFA.from_dict(d["sdfa"]),
        TypeSymbolizer.from_dict(d["symbolizer"]),
        d.get("order"),
        d.get("partition_by"),
        d.get("window"),
        d["pattern_text"],
        d.get("declarations_text") or "",
    )


def a_then_b(partition_by: str | None = None, order: int = 1) -> HandPattern:
    """``;(A,B)`` over symbols A=0, B=1, N=2 (neither): states start 0, after-A 1, final 2 (= copy of 0)."""
    sdfa = SDFA(np.array([[1, 0, 0], [1, 2, 0], [1, 0, 0]]), 0, frozenset({2}))
    return HandPattern(sdfa, TypeSymbolizer(("A", "B")), order=order, partition_by=partition_by)


def demo_frame_inline() -> pd.DataFrame:
    """The demo stream (types of spec 6.7) without reading a file."""
    return pd.DataFrame({"type": list(DEMO_TYPES), "timestamp": range(1, len(DEMO_TYPES) + 1)})


DEMO_FORECAST = ForecastParams(
    threshold=0.5,
    horizon=10,
    max_spread=10,
    method="nextk",
    wt_mode="exact_wayeb",
    cutoff=0.001,
    distance=(0.0001, 1.0),
    finals_enabled=False,
)
DEMO_LEARN = LearnParams(order=1, p_min=0.001, alpha=0.0, gamma=0.001, r=1.05)


def demo_model(
    learn: LearnParams = DEMO_LEARN,
    forecast: ForecastParams = DEMO_FORECAST,
    pattern: HandPattern | None = None,
) -> SPSTModel:
    """An SPST model learned on the demo stream with the hand-built ``;(A,B)`` pattern."""
    pat = pattern or a_then_b(order=learn.order)
    frame = demo_frame_inline()
    cst = build_cst([pat.symbolizer.symbols(frame)], pat.symbolizer.n_symbols, learn.order + 1)
    return SPSTModel(pat, learn_pst(cst, learn), learn, forecast, {"dataset_id": "demo-inline"})
