"""The Symbolizer: maps an event to the index of the minterm it satisfies.

Symbol ``k`` (0-based) is the ``k``-th minterm of the compiled pattern (Wayeb's ``Symbol(k + 1)``). Instead of
testing minterms one by one, every sentence is evaluated once and the resulting bit pattern
(bit ``i`` = sentence ``i`` is true) is looked up; the vectorised path does the same with numpy columns.
One event at a time, the sentences run as one generated function (:mod:`~wayeb_py.patterns.codegen`), with
the sentence objects as the reference it falls back to.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from wayeb_py.patterns.codegen import CodeFunction, compile_code_function
from wayeb_py.patterns.errors import UnmatchedEventError
from wayeb_py.patterns.predicates import Cache, Predicate, predicate_from_dict
from wayeb_py.patterns.sentences import Atom, Sentence, sentence_from_dict

if TYPE_CHECKING:
    import pandas as pd

_LOOKUP_TABLE_MAX_SENTENCES = 16
_INT64_CODE_MAX_SENTENCES = 62


class Symbolizer:
    """Event → symbol mapping of one compiled pattern (immutable after construction).

    ``sentences`` are the pattern's canonical sentences, ``minterms`` one sign vector per symbol, and
    ``exclusives`` the declared exclusive predicate sets (kept for :meth:`describe` and serialisation).
    """

    __slots__ = (
        "sentences", "minterms", "exclusives", "n_symbols", "_by_code", "_lookup", "_key", "_code_of"
    )  # fmt: skip

    def __init__(
        self,
        sentences: Sequence[Sentence],
        minterms: Sequence[Sequence[bool]],
        exclusives: Iterable[frozenset[Predicate]] = (),
    ) -> None:
        self.sentences: tuple[Sentence, ...] = tuple(sentences)
        self.minterms: tuple[tuple[bool, ...], ...] = tuple(tuple(bool(b) for b in m) for m in minterms)
        self.exclusives: tuple[frozenset[Predicate], ...] = tuple(
            sorted((frozenset(e) for e in exclusives), key=lambda e: sorted(p.text() for p in e))
        )
        self.n_symbols: int = len(self.minterms)
        if self.n_symbols == 0:
            raise ValueError("a symbolizer needs at least one minterm")
        if any(len(m) != len(self.sentences) for m in self.minterms):
            raise ValueError("every minterm must have one sign per sentence")
        self._by_code: dict[int, int] = {}
        for symbol, minterm in enumerate(self.minterms):
            code = sum(1 << i for i, positive in enumerate(minterm) if positive)
            if code in self._by_code:
                raise ValueError(f"duplicate minterm {minterm}")
            self._by_code[code] = symbol
        self._lookup: np.ndarray | None = None
        if len(self.sentences) <= _LOOKUP_TABLE_MAX_SENTENCES:
            lookup = np.full(1 << len(self.sentences), -1, dtype=np.int32)
            for code, symbol in self._by_code.items():
                lookup[code] = symbol
            self._lookup = lookup
        self._key = json.dumps(self.to_dict(), sort_keys=True)
        self._code_of: CodeFunction = compile_code_function(self.sentences)

    # -- evaluation ----------------------------------------------------------------------------------------

    def symbol(self, event: Mapping[str, Any]) -> int:
        """Symbol of one event; raises ``MissingAttributeError`` or ``UnmatchedEventError``."""
        try:
            code = self._code_of(event)
        except Exception:  # the sentence objects decide: they may not need what was missing, or say why
            return self.symbol_by_sentences(event)
        symbol = self._by_code.get(code)
        if symbol is None:
            return self.symbol_by_sentences(event)
        return symbol

    def symbol_by_sentences(self, event: Mapping[str, Any]) -> int:
        """:meth:`symbol` through the sentence objects (the reference the generated function follows)."""
        cache: Cache = {}
        code = 0
        bit = 1
        for sentence in self.sentences:
            if sentence.evaluate(event, cache):
                code |= bit
            bit <<= 1
        symbol = self._by_code.get(code)
        if symbol is None:
            raise UnmatchedEventError(f"event {dict(event)!r} {self._unmatched_reason(code)}")
        return symbol

    def symbols(self, frame: pd.DataFrame) -> np.ndarray:
        """Symbols of every row of ``frame`` (int32), equal to :meth:`symbol` applied row by row."""
        n_rows = len(frame)
        cache: Cache = {}
        values = [np.asarray(s.evaluate_frame(frame, cache), dtype=bool) for s in self.sentences]
        if len(self.sentences) <= _INT64_CODE_MAX_SENTENCES:
            codes = np.zeros(n_rows, dtype=np.int64)
            for i, column in enumerate(values):
                codes |= column.astype(np.int64) << i
            if self._lookup is not None:
                result = self._lookup[codes]
            else:
                unique, inverse = np.unique(codes, return_inverse=True)
                mapped = np.array([self._by_code.get(int(c), -1) for c in unique], dtype=np.int32)
                result = mapped[inverse]
        else:
            matrix = np.stack(values, axis=1) if values else np.zeros((n_rows, 0), dtype=bool)
            unique_rows, inverse = np.unique(matrix, axis=0, return_inverse=True)
            mapped = np.array(
                [self._by_code.get(sum(1 << i for i, b in enumerate(row) if b), -1) for row in unique_rows],
                dtype=np.int32,
            )
            result = mapped[inverse.reshape(-1)]
        result = np.asarray(result, dtype=np.int32)
        unmatched = np.flatnonzero(result < 0)
        if unmatched.size:
            row = int(unmatched[0])
            code = sum(1 << i for i, column in enumerate(values) if column[row])
            raise UnmatchedEventError(
                f"row {row} (index {frame.index[row]!r}) {self._unmatched_reason(code)}; "
                f"{unmatched.size} row(s) affected"
            )
        return result

    def _unmatched_reason(self, code: int) -> str:
        true_sentences = [s.text() for i, s in enumerate(self.sentences) if code >> i & 1]
        return f"satisfies no minterm: the true sentences {true_sentences} violate the declared exclusives"

    # -- description and serialisation --------------------------------------------------------------------

    def describe(self) -> list[str]:
        """One readable SRE sentence per symbol.

        Negated atoms already implied by an exclusive partner that is positive are left out, e.g. the demo
        pattern gives ``IsEventTypePredicate(A)``, ``IsEventTypePredicate(B)`` and
        ``^(-IsEventTypePredicate(A),-IsEventTypePredicate(B))``.
        """
        return [self._describe_minterm(m) for m in self.minterms]

    def _describe_minterm(self, minterm: tuple[bool, ...]) -> str:
        positive_atoms = {
            s.predicate
            for s, sign in zip(self.sentences, minterm, strict=True)
            if sign and isinstance(s, Atom)
        }
        literals: list[str] = []
        for sentence, sign in zip(self.sentences, minterm, strict=True):
            if sign:
                literals.append(sentence.text())
            elif not (isinstance(sentence, Atom) and self._excluded_by(sentence.predicate, positive_atoms)):
                literals.append(f"-{sentence.text()}")
        if len(literals) == 1:
            return literals[0]
        return f"^({','.join(literals)})"

    def _excluded_by(self, predicate: Predicate, positives: set[Predicate]) -> bool:
        return any(predicate in group and (positives & group) - {predicate} for group in self.exclusives)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form: predicates by name and arguments, minterms as 0/1 lists."""
        return {
            "sentences": [s.to_dict() for s in self.sentences],
            "minterms": [[int(b) for b in m] for m in self.minterms],
            "exclusives": [[p.to_dict() for p in sorted(e, key=lambda p: p.text())] for e in self.exclusives],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Symbolizer:
        """Inverse of :meth:`to_dict`."""
        return cls(
            sentences=[sentence_from_dict(s) for s in d["sentences"]],
            minterms=[[bool(b) for b in m] for m in d["minterms"]],
            exclusives=[frozenset(predicate_from_dict(p) for p in e) for e in d.get("exclusives", [])],
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (Symbolizer.from_dict, (self.to_dict(),))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Symbolizer):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"Symbolizer(n_symbols={self.n_symbols}, sentences={[s.text() for s in self.sentences]})"
