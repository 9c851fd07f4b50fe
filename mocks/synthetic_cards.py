"""Seeded generator of card transactions with increasing-amount fraud and concept drift at chosen weeks.

Why: the finance domain has a contract (:class:`protocol.messages.CardTransaction`) and a pattern
(``patterns/finance``: five increases of ``amount_diff`` in a row on one card) but no stream. This generator
produces weeks of transactions of many cards in which fraudsters' card-testing runs complete that pattern,
and whose ``amount_diff`` range changes at known weeks, so that a model trained before a change forecasts
the fraud runs worse after it and a model retrained on recent weeks recovers (the original RTCEF's R_cards
experiment, where the range of ``amountDiff`` changed every 4 to 8 weeks).

What it simulates, per card (all times epoch milliseconds, amounts in cents internally):

* **genuine** purchases: a Poisson process of the card's own rate, amounts log-normal around the card's
  own median, and now and then a quick follow-up purchase seconds later whose amount is drawn log-uniformly
  over a wide range, so that neither "less than a minute since the previous transaction" nor an increase
  in any bin is a fraud signature by itself;
* **fraud runs** (``is_fraud = 1``, ``fraud_type = 1``): in a given week a card is compromised with
  probability ``fraud_prob``; the fraudster then makes ``run_length`` transactions seconds apart, each
  larger than the previous one by an increase drawn from the **fraud range** in force at the run's week.
  Genuine purchases of that card during the run are left out (the run holds the card).

Drift: the fraud range starts at ``fraud_ranges[0]`` and moves to the next range of the list (cyclically)
at each drift week. The default ranges are the three increase bins of ``patterns/finance/declarations.sre``,
so every drift moves the fraud runs into another symbol of the model's alphabet, one that a model trained
before the drift knows only from genuine follow-ups, which are not followed by further increases.

Output rows carry the :data:`COLUMNS` of the contract, sorted by timestamp (ties by card); ``amount_diff``
and ``time_diff`` are relative to the previous transaction of the same card (0 for its first one) and
``trx_no`` counts the rows from 1 in event-time order.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from protocol.bounds import EPOCH_MS_MAX, EPOCH_MS_MIN
from protocol.settings import WEEK_SECONDS, Domain

TICKS_PER_SECOND = Domain.FINANCE.ticks_per_second
WEEK_MS = WEEK_SECONDS * TICKS_PER_SECOND
DAY_MS = 24 * 3600 * TICKS_PER_SECOND
COLUMNS = ("trx_no", "timestamp", "pan", "amount", "amount_diff", "time_diff", "is_fraud", "fraud_type")
FRAUD_INCREASING = 1
"""``fraud_type`` of the increasing-amount runs (0 = genuine)."""

Span = tuple[float, float]
DEFAULT_RANGES: tuple[Span, ...] = ((1.0, 100.0), (100.0, 400.0), (400.0, 800.0))
"""Fraud increases (currency units) before the first drift, after it, after the second... (cyclic)."""


@dataclass(frozen=True)
class CardsConfig:
    """Everything that shapes a generated stream; equal configs give byte-identical output.

    ``drift_weeks`` lists the weeks at which the fraud range moves on; ``drift_every`` (``(low, high)``
    weeks), when set, draws them instead: the first drift after ``low..high`` weeks, the next one
    ``low..high`` weeks later, and so on (seeded).
    """

    weeks: int = 16
    cards: int = 300
    seed: int = 7
    start: int = 1_704_067_200_000  # 2024-01-01T00:00:00Z in epoch milliseconds, a Monday
    trx_per_day: Span = (1.0, 5.0)  # genuine purchase rate of a card, drawn per card
    median_amount: Span = (15.0, 80.0)  # median genuine amount of a card, drawn per card
    amount_sigma: float = 0.9  # log-normal spread of genuine amounts
    quick_prob: float = 0.15  # chance that a genuine purchase is followed by another within a minute
    quick_s: Span = (5.0, 55.0)
    quick_amount: Span = (1.0, 1000.0)  # amounts of the quick follow-ups: log-uniform, any card
    fraud_prob: float = 0.1  # chance per card and week of a fraud run
    run_length: tuple[int, int] = (6, 10)  # transactions per fraud run (inclusive bounds)
    run_gap_s: Span = (5.0, 50.0)  # seconds between the transactions of a run
    fraud_ranges: tuple[Span, ...] = DEFAULT_RANGES
    drift_weeks: tuple[int, ...] = (5, 10)
    drift_every: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.weeks < 1 or self.cards < 1:
            raise ValueError("weeks and cards must be positive")
        if not EPOCH_MS_MIN <= self.start <= EPOCH_MS_MAX - self.weeks * WEEK_MS:
            raise ValueError(f"start {self.start} is not epoch milliseconds between 1990 and 2100")
        if not 0.0 <= self.fraud_prob <= 1.0 or not 0.0 <= self.quick_prob < 1.0:
            raise ValueError("fraud_prob must lie in [0, 1] and quick_prob in [0, 1)")
        if not 1 <= self.run_length[0] <= self.run_length[1]:
            raise ValueError(f"run_length must be 1 <= low <= high, got {self.run_length}")
        if not self.fraud_ranges or any(not 0.01 <= lo < hi for lo, hi in self.fraud_ranges):
            raise ValueError("every fraud range must be 0.01 <= low < high")
        spans = (self.trx_per_day, self.median_amount, self.quick_s, self.quick_amount, self.run_gap_s)
        if any(not 0 < lo <= hi for lo, hi in spans):
            raise ValueError("the spans of rates, amounts and gaps must be 0 < low <= high")
        if self.drift_every is not None and not 1 <= self.drift_every[0] <= self.drift_every[1]:
            raise ValueError(f"drift_every must be 1 <= low <= high, got {self.drift_every}")

    @property
    def end(self) -> int:
        return self.start + self.weeks * WEEK_MS

    def drift_schedule(self) -> tuple[int, ...]:
        """The weeks (0 < w < weeks, sorted) at which the fraud range moves on."""
        if self.drift_every is None:
            return tuple(sorted({w for w in self.drift_weeks if 0 < w < self.weeks}))
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 1]))
        low, high = self.drift_every
        out: list[int] = []
        week = int(rng.integers(low, high + 1))
        while week < self.weeks:
            out.append(week)
            week += int(rng.integers(low, high + 1))
        return tuple(out)

    def regime_of_week(self, week: int | np.ndarray) -> np.ndarray:
        """Index in ``fraud_ranges`` of the range in force at ``week`` (0-based weeks since ``start``)."""
        flips = np.searchsorted(np.array(self.drift_schedule(), dtype=np.int64), week, side="right")
        return np.asarray(flips % len(self.fraud_ranges))


@dataclass
class CardStream:
    """A generated stream: ``frame`` has :data:`COLUMNS` in event-time order; ``runs`` logs the fraud runs."""

    frame: pd.DataFrame
    runs: pd.DataFrame
    config: CardsConfig = field(repr=False)

    @property
    def drift_weeks(self) -> tuple[int, ...]:
        return self.config.drift_schedule()


def _pans(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct 16-digit card numbers starting with 4 and ending with a valid Luhn check digit."""
    body = np.empty(0, dtype=np.int64)
    while len(body) < n:  # duplicates among 10**14 draws are rare: one more round at most, in practice
        more = rng.integers(0, 10**14, size=n - len(body)) + 4 * 10**14
        body = pd.unique(np.concatenate([body, more]))
    digits = (body[:, None] // 10 ** np.arange(14, -1, -1)) % 10
    doubled = digits[:, ::-1].copy()
    doubled[:, ::2] *= 2  # from the right, every other digit (the check digit is appended after)
    doubled[doubled > 9] -= 9
    check = (10 - doubled.sum(axis=1) % 10) % 10
    return np.array([f"{b}{c}" for b, c in zip(body.tolist(), check.tolist(), strict=True)], dtype=object)


def _genuine(cfg: CardsConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Card index, time (ms) and amount (cents) of every genuine purchase, quick follow-ups included."""
    span_days = cfg.weeks * WEEK_MS / DAY_MS
    rate = rng.uniform(*cfg.trx_per_day, size=cfg.cards)
    median = rng.uniform(*cfg.median_amount, size=cfg.cards)
    counts = rng.poisson(rate * span_days)
    card = np.repeat(np.arange(cfg.cards), counts)
    t = cfg.start + rng.integers(0, cfg.weeks * WEEK_MS, size=len(card))
    quick = rng.random(len(card)) < cfg.quick_prob
    q_card = card[quick]
    q_t = t[quick] + (rng.uniform(*cfg.quick_s, size=len(q_card)) * TICKS_PER_SECOND).astype(np.int64)
    card, t = np.concatenate([card, q_card]), np.concatenate([t, q_t])
    amount = np.exp(np.log(median[card]) + rng.normal(0.0, cfg.amount_sigma, size=len(card)))
    n_quick = len(q_card)
    low, high = np.log(cfg.quick_amount[0]), np.log(cfg.quick_amount[1])
    amount[len(card) - n_quick :] = np.exp(rng.uniform(low, high, size=n_quick))
    cents = np.maximum(np.round(amount * 100), 100).astype(np.int64)
    keep = t < cfg.end
    return card[keep], t[keep], cents[keep]


def _runs(cfg: CardsConfig, rng: np.random.Generator) -> pd.DataFrame:
    """One row per fraud run: card, week, regime, start/end time, length; at most one run per card-week."""
    hit = rng.random((cfg.cards, cfg.weeks)) < cfg.fraud_prob
    card, week = np.nonzero(hit)
    n = len(card)
    length = rng.integers(cfg.run_length[0], cfg.run_length[1] + 1, size=n)
    longest = int(cfg.run_length[1] * cfg.run_gap_s[1] * TICKS_PER_SECOND)
    start = cfg.start + week * WEEK_MS + rng.integers(0, WEEK_MS - longest - 1, size=n)
    return pd.DataFrame({
        "card": card.astype(np.int64), "week": week.astype(np.int64),
        "regime": cfg.regime_of_week(week).astype(np.int64), "start": start.astype(np.int64),
        "length": length.astype(np.int64),
    })  # fmt: skip


def _run_rows(
    cfg: CardsConfig, runs: pd.DataFrame, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Card index, time (ms), increase over the previous row (cents) and run number of every fraud row."""
    length = runs["length"].to_numpy()
    run_id = np.repeat(np.arange(len(runs)), length)
    first = np.repeat(np.r_[0, np.cumsum(length)[:-1]], length)
    gaps = (rng.uniform(*cfg.run_gap_s, size=len(run_id)) * TICKS_PER_SECOND).astype(np.int64)
    gaps[np.arange(len(run_id)) == first] = 0
    elapsed = np.cumsum(gaps)
    t = runs["start"].to_numpy()[run_id] + elapsed - elapsed[first]
    cents = np.round(np.array(cfg.fraud_ranges) * 100).astype(np.int64)[runs["regime"].to_numpy()[run_id]]
    step = rng.integers(cents[:, 0], cents[:, 1]) if len(run_id) else np.empty(0, dtype=np.int64)
    return runs["card"].to_numpy()[run_id], t, step, run_id


def _inside_runs(card: np.ndarray, t: np.ndarray, runs: pd.DataFrame) -> np.ndarray:
    """True for the (card, time) pairs that fall within a fraud run of the same card (bounds included)."""
    if runs.empty:
        return np.zeros(len(card), dtype=bool)
    r_card, r_start, r_end = (runs[c].to_numpy() for c in ("card", "start", "end"))
    span = int(r_end.max()) + 1
    # one sorted axis for all cards (card * span + time): the search for every card is one global search
    order = np.argsort(r_card * span + r_start)
    starts, ends = (r_card * span + r_start)[order], (r_card * span + r_end)[order]
    key = card * span + t
    pos = np.searchsorted(starts, key, side="right") - 1
    inside = np.zeros(len(card), dtype=bool)
    ok = pos >= 0
    inside[ok] = key[ok] <= ends[pos[ok]]
    return inside


def _amounts(card: np.ndarray, value: np.ndarray, run: np.ndarray, opening: int) -> np.ndarray:
    """Amounts (cents) of rows sorted by card then time.

    ``run`` is -1 for genuine rows, whose amount is ``value``, and the run number for fraud rows, whose
    ``value`` is the increase over the previous row. A run's rows are contiguous in this order, so each run
    adds its cumulative increases to the amount just before it (a run that opens a card's history starts
    from ``opening``). Runs are few (at most one per card and week), so a loop over them is cheap.
    """
    cents = np.where(run < 0, value, 0)
    bounds = np.r_[np.flatnonzero(np.r_[True, run[1:] != run[:-1]]), len(run)]
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if run[lo] < 0:
            continue
        base = int(cents[lo - 1]) if lo > 0 and card[lo - 1] == card[lo] else opening
        cents[lo:hi] = base + np.cumsum(value[lo:hi])
    return cents


def generate(cfg: CardsConfig) -> CardStream:
    """Generate the stream of ``cfg``: deterministic for a given config."""
    id_rng, buy_rng, run_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(3))
    pans = _pans(id_rng, cfg.cards)
    g_card, g_t, g_cents = _genuine(cfg, buy_rng)
    runs = _runs(cfg, run_rng)
    f_card, f_t, f_step, f_run = _run_rows(cfg, runs, run_rng)
    runs["end"] = f_t[np.cumsum(runs["length"].to_numpy()) - 1] if len(runs) else runs["start"]
    free = ~_inside_runs(g_card, g_t, runs)

    card = np.concatenate([g_card[free], f_card])
    t = np.concatenate([g_t[free], f_t])
    value = np.concatenate([g_cents[free], f_step])
    run = np.concatenate([np.full(int(free.sum()), -1, dtype=np.int64), f_run])
    order = np.lexsort((run, t, card))  # per card in time order
    card, t, value, run = card[order], t[order], value[order], run[order]
    cents = _amounts(card, value, run, opening=int(round(cfg.median_amount[0] * 100)))
    same = np.r_[False, card[1:] == card[:-1]]
    diff = np.where(same, cents - np.r_[0, cents[:-1]], 0)
    gap = np.where(same, t - np.r_[0, t[:-1]], 0)

    final = np.lexsort((card, t))  # event-time order, ties by card
    fraud = run[final] >= 0
    frame = pd.DataFrame({
        "trx_no": np.arange(1, len(final) + 1, dtype=np.int64),
        "timestamp": t[final].astype(np.int64),
        "pan": pans[card[final]],
        "amount": cents[final] / 100.0,
        "amount_diff": diff[final] / 100.0,
        "time_diff": gap[final].astype(np.int64),
        "is_fraud": fraud.astype(np.int64),
        "fraud_type": np.where(fraud, FRAUD_INCREASING, 0).astype(np.int64),
    })  # fmt: skip
    log = runs.assign(pan=pans[runs["card"].to_numpy()])
    log = log.loc[:, ["pan", "week", "regime", "start", "end", "length"]]
    return CardStream(frame=frame, runs=log.sort_values(["start", "pan"], ignore_index=True), config=cfg)


def increase_run_ends(frame: pd.DataFrame, length: int = 5) -> np.ndarray:
    """True for rows that complete ``length`` increases in a row on their card: where the finance pattern
    (``GT(amount_diff,0.0)`` five times, partitioned by ``pan``) matches, measured on the rows alone."""
    codes = pd.factorize(frame["pan"])[0]
    order = np.lexsort((frame["timestamp"].to_numpy(), codes))
    same = np.r_[False, codes[order][1:] == codes[order][:-1]]
    up = same & (frame["amount_diff"].to_numpy()[order] > 0)
    idx = np.arange(len(order))
    last_break = np.maximum.accumulate(np.where(up, -1, idx)) if len(order) else idx
    mask = np.zeros(len(frame), dtype=bool)
    mask[order] = idx - last_break >= length
    return mask


def weekly_summary(stream: CardStream) -> pd.DataFrame:
    """Per week: rows, cards seen, fraud rows, fraud runs, pattern matches, and the fraud increase range."""
    cfg, frame = stream.config, stream.frame
    week = (frame["timestamp"].to_numpy() - cfg.start) // WEEK_MS
    fraud = frame["is_fraud"].to_numpy() == 1
    matches = increase_run_ends(frame)
    runs_per_week = stream.runs["week"].value_counts()
    out = []
    for w in range(cfg.weeks):
        rows = week == w
        inner = rows & fraud & (frame["time_diff"].to_numpy() > 0)  # a card's first row has no increase
        diffs = frame["amount_diff"].to_numpy()[inner]
        low, high = cfg.fraud_ranges[int(cfg.regime_of_week(w))]
        out.append({
            "week": w, "rows": int(rows.sum()), "cards": int(frame.loc[rows, "pan"].nunique()),
            "fraud_rows": int((rows & fraud).sum()), "runs": int(runs_per_week.get(w, 0)),
            "matches": int((rows & matches).sum()), "fraud_range": f"{low:g}-{high:g}",
            "fraud_diff_min": float(diffs.min()) if len(diffs) else np.nan,
            "fraud_diff_max": float(diffs.max()) if len(diffs) else np.nan,
        })  # fmt: skip
    return pd.DataFrame(out)


def describe(stream: CardStream) -> str:
    """A human summary: totals, drift weeks and the weekly table."""
    frame = stream.frame
    return "\n".join([
        f"{len(frame)} transactions, {frame['pan'].nunique()} cards, {len(stream.runs)} fraud runs "
        f"({frame['is_fraud'].mean():.2%} fraud rows), drift weeks {list(stream.drift_weeks)}, "
        f"fraud ranges {[f'{lo:g}-{hi:g}' for lo, hi in stream.config.fraud_ranges]}",
        weekly_summary(stream).to_string(index=False),
    ])  # fmt: skip


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV with a header line in the column order of :data:`COLUMNS` (what ``read_events(path, "finance")``
    and ``mocks.data_feeder --domain finance`` read)."""
    frame.loc[:, list(COLUMNS)].to_csv(path, index=False)


def write_jsonl(frame: pd.DataFrame, path: Path) -> None:
    """One JSON object per line with the CardTransaction field names (``pan`` a string)."""
    frame.loc[:, list(COLUMNS)].to_json(path, orient="records", lines=True)


def _pair(text: str) -> tuple[str, str]:
    """``"low-high"`` (or one value for both) as its two parts."""
    parts = text.strip().split("-")
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected LOW-HIGH, got {text!r}")
    return parts[0], parts[1]


def _span(text: str) -> Span:
    low, high = _pair(text)
    try:
        return float(low), float(high)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW-HIGH numbers, got {text!r}") from None


def _int_span(text: str) -> tuple[int, int]:
    low, high = _pair(text)
    try:
        return int(low), int(high)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW-HIGH whole numbers, got {text!r}") from None


def _weeks(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated week numbers, got {text!r}") from None


def _ranges(text: str) -> tuple[Span, ...]:
    return tuple(_span(part.strip()) for part in text.split(",") if part.strip())


def build_parser() -> argparse.ArgumentParser:
    """The ``rtcef-synthetic-cards`` parser (also ``python -m mocks.synthetic_cards``), kebab-case options."""
    d = CardsConfig()
    p = argparse.ArgumentParser(prog="rtcef-synthetic-cards", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="CSV file to write (with a header line)")
    p.add_argument("--jsonl", type=Path, default=None, help="also write the stream as JSON lines here")
    p.add_argument("--weeks", type=int, default=d.weeks, help="weeks of transactions (default: %(default)s)")
    p.add_argument("--cards", type=int, default=d.cards, help="number of cards (default: %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed: one seed, one stream (default: 7)")
    p.add_argument("--start", type=int, default=d.start, help="epoch milliseconds of week 0")
    drift = p.add_mutually_exclusive_group()
    drift.add_argument("--drift-weeks", type=_weeks, default=None,
                       help="comma list of weeks where the fraud range moves on (default: 5,10)")  # fmt: skip
    drift.add_argument("--drift-every", type=_int_span, default=None, metavar="LOW-HIGH",
                       help="instead: a drift every LOW to HIGH weeks, drawn from the seed")  # fmt: skip
    drift.add_argument("--no-drift", action="store_true", help="one fraud range for the whole stream")
    p.add_argument("--fraud-ranges", type=_ranges, default=d.fraud_ranges, metavar="LO-HI,LO-HI,...",
                   help="fraud increases before the first drift, after it, ... (cyclic; default "
                   "1-100,100-400,400-800)")  # fmt: skip
    p.add_argument("--fraud-prob", type=float, default=d.fraud_prob,
                   help="chance per card and week of a fraud run (default: %(default)s)")  # fmt: skip
    p.add_argument("--run-length", type=_int_span, default=d.run_length, metavar="LOW-HIGH",
                   help="transactions per fraud run (default: 6-10)")  # fmt: skip
    p.add_argument("--trx-per-day", type=_span, default=d.trx_per_day, metavar="LOW-HIGH",
                   help="genuine purchases per card and day, drawn per card (default: 1-5)")  # fmt: skip
    p.add_argument("--quick-prob", type=float, default=d.quick_prob,
                   help="chance of a genuine follow-up within a minute (default: %(default)s)")  # fmt: skip
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: generate a stream, write it, print per-week statistics on stderr."""
    args = build_parser().parse_args(argv)
    drift_weeks = () if args.no_drift or args.drift_every else (args.drift_weeks or CardsConfig.drift_weeks)
    try:
        cfg = CardsConfig(
            weeks=args.weeks, cards=args.cards, seed=args.seed, start=args.start, drift_weeks=drift_weeks,
            drift_every=args.drift_every, fraud_ranges=args.fraud_ranges, fraud_prob=args.fraud_prob,
            run_length=args.run_length, trx_per_day=args.trx_per_day, quick_prob=args.quick_prob,
        )  # fmt: skip
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stream = generate(cfg)
    write_csv(stream.frame, args.out)
    if args.jsonl:
        write_jsonl(stream.frame, args.jsonl)
    print(describe(stream), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
