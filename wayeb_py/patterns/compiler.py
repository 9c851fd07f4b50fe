"""Pattern compilation: text → sentences → minterms → streaming SNFA → complete SDFA + Symbolizer.

Everything is canonical so that the same pattern and declarations always give the same model bytes:
sentences are sorted by their SRE text, minterms by sign vector (positive first), SDFA states by breadth-first
discovery from the start state. The SDFA uses the overlapping match policy (matches may share events);
``sdfa.with_policy("nonoverlap")`` gives Wayeb's command-line default. ``{windowType:...}`` is accepted and
ignored, like any window, by the SPST forecasting path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wayeb_py.automata.determinize import determinize
from wayeb_py.automata.minterms import build_minterms
from wayeb_py.automata.sdfa import SDFA
from wayeb_py.automata.snfa import build_snfa
from wayeb_py.patterns.parser import parse_declarations, parse_pattern
from wayeb_py.patterns.sentences import Atom, Sentence
from wayeb_py.patterns.symbolizer import Symbolizer


@dataclass(frozen=True)
class CompiledPattern:
    """A pattern ready for learning and forecasting: its automaton, its symbolizer and its annotations."""

    pattern_text: str
    declarations_text: str
    sdfa: SDFA
    symbolizer: Symbolizer
    order: int | None  # {order:N}
    partition_by: str | None  # {partitionBy:attr}
    window: int | None  # {window:N}


def compile_pattern(
    pattern_text: str, declarations_text: str = "", *, source_name: str = "<pattern>"
) -> CompiledPattern:
    """Compile a pattern and its declarations; ``source_name`` labels syntax errors in the pattern.

    Errors in the declarations are labelled ``<source_name> declarations``.
    """
    return _compile(pattern_text, declarations_text, source_name, f"{source_name} declarations")


def load_pattern(pattern_path: str | Path, declarations_path: str | Path | None = None) -> CompiledPattern:
    """Read and compile a ``.sre`` pattern file and, optionally, its declarations file (UTF-8)."""
    pattern_file = Path(pattern_path)
    pattern_text = pattern_file.read_text(encoding="utf-8")
    if declarations_path is None:
        return _compile(pattern_text, "", str(pattern_file), "<no declarations>")
    declarations_file = Path(declarations_path)
    declarations_text = declarations_file.read_text(encoding="utf-8")
    return _compile(pattern_text, declarations_text, str(pattern_file), str(declarations_file))


def _compile(
    pattern_text: str, declarations_text: str, pattern_source: str, declarations_source: str
) -> CompiledPattern:
    parsed = parse_pattern(pattern_text, pattern_source)
    declarations = parse_declarations(declarations_text, declarations_source)
    distinct = {guard for guard in parsed.formula.guards() if isinstance(guard, Sentence)}
    distinct.update(Atom(p) for p in declarations.extras)
    sentences = sorted(distinct, key=lambda s: s.text())
    index = {sentence: i for i, sentence in enumerate(sentences)}
    minterms = build_minterms(sentences, declarations.exclusives)
    snfa = build_snfa(parsed.formula, index.__getitem__)
    sdfa = determinize(snfa, minterms)
    symbolizer = Symbolizer(sentences, minterms, declarations.exclusives)
    return CompiledPattern(
        pattern_text=pattern_text,
        declarations_text=declarations_text,
        sdfa=sdfa,
        symbolizer=symbolizer,
        order=parsed.order,
        partition_by=parsed.partition_by,
        window=parsed.window,
    )
