"""Waiting-time distributions: ``wt[v, t-1] = P(first final state exactly t events after vstate v)``.

Two modes:

``"exact_wayeb"``
    Wayeb's per-path expansion: every symbol sequence is a separate path (identical virtual states are *not*
    merged), a path stops when it reaches a final state, and a path whose probability is not ``> cutoff`` is
    dropped. This reproduces Wayeb's numbers, including the mass lost to pruning (with t symbols of similar
    probability every path eventually falls below the cutoff and ``wt`` becomes 0 although the true mass is
    not). Live paths per level are bounded by about ``t/cutoff``; with ``cutoff == 0`` the cost is ``t**h``.

``"merged"``
    The exact Markov-chain answer (no pruning), computed for all virtual states at once by the backward
    recursion ``f_1(v) = sum_x P(v,x)[next final]`` and ``f_t(v) = sum_x P(v,x)[next not final]
    f_{t-1}(next)``:
    ``O(h * V * t)``. Equal to ``"exact_wayeb"`` with ``cutoff == 0``.

Both are causal: the first ``k`` entries do not depend on the horizon, so NEXTK forecasts only need ``k``
levels.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .vstates import VirtualAutomaton

__all__ = ["WtMode", "WT_MODES", "waiting_times"]

WtMode = Literal["exact_wayeb", "merged"]
WT_MODES: frozenset[str] = frozenset(("exact_wayeb", "merged"))

# Upper bound on the number of (path, symbol) cells expanded at once in path mode (memory guard).
_CELL_BUDGET = 2_000_000


def waiting_times(
    va: VirtualAutomaton,
    horizon: int,
    *,
    mode: WtMode = "exact_wayeb",
    cutoff: float = 0.001,
    vstates: np.ndarray | None = None,
) -> np.ndarray:
    """Waiting-time distributions for the given virtual states.

    Args:
        va: the SPST's virtual automaton.
        horizon: number of future events h (columns of the result).
        mode: ``"exact_wayeb"`` (per-path pruning, Wayeb parity) or ``"merged"`` (exact, no pruning).
        cutoff: path-probability pruning threshold for ``"exact_wayeb"`` (strict ``>`` keeps a path).
        vstates: ids of the virtual states to compute (default: all).

    Returns:
        float array ``(len(vstates), horizon)``; column ``t-1`` holds ``P(wait == t)``.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if mode not in WT_MODES:
        raise ValueError(f"unknown waiting-time mode {mode!r}; expected one of {sorted(WT_MODES)}")
    if cutoff < 0:
        raise ValueError(f"cutoff must be >= 0, got {cutoff}")
    ids = np.arange(va.n_vstates) if vstates is None else np.asarray(vstates, dtype=np.int64)
    if mode == "merged":
        return _merged(va, horizon)[ids]
    return np.maximum(_paths(va, horizon, cutoff, ids), 0.0)


def _merged(va: VirtualAutomaton, horizon: int) -> np.ndarray:
    """Backward recursion over all virtual states (exact, no pruning)."""
    nxt, prob, fin = va.transition_arrays()
    p_final = np.where(fin, prob, 0.0)
    p_cont = np.where(fin, 0.0, prob)
    out = np.empty((va.n_vstates, horizon), dtype=np.float64)
    f = p_final.sum(axis=1)
    out[:, 0] = f
    for t in range(1, horizon):
        f = (p_cont * f[nxt]).sum(axis=1)
        out[:, t] = f
    return out


def _paths(va: VirtualAutomaton, horizon: int, cutoff: float, ids: np.ndarray) -> np.ndarray:
    """Per-path forward expansion with pruning, vectorised over batches of start states."""
    t_sym = va.n_symbols
    q_count = va.n_states
    probs = va.pst.probs
    succ = va.succ_node
    delta = va.delta
    fmask = va.final_mask
    live_bound = t_sym ** (horizon - 1) if horizon < 40 else float("inf")
    if cutoff > 0:
        live_bound = min(live_bound, t_sym / cutoff)
    batch = int(max(1, min(len(ids) or 1, _CELL_BUDGET // max(1.0, live_bound * t_sym))))
    out = np.zeros((len(ids), horizon), dtype=np.float64)
    for lo in range(0, len(ids), batch):
        chunk = ids[lo : lo + batch]
        nodes, qs = np.divmod(chunk, q_count)
        ps = np.ones(len(chunk), dtype=np.float64)
        sid = np.arange(len(chunk))
        for t in range(horizon):
            if len(ps) == 0:
                break
            n2 = succ[nodes]
            q2 = delta[qs]
            p2 = ps[:, None] * probs[nodes]
            fin = fmask[q2]
            sid2 = np.broadcast_to(sid[:, None], p2.shape)
            out[lo : lo + len(chunk), t] = np.bincount(sid2[fin], weights=p2[fin], minlength=len(chunk))
            keep = ~fin & (p2 > cutoff)
            nodes, qs, ps, sid = n2[keep], q2[keep], p2[keep], sid2[keep]
    return out
