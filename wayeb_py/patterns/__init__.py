"""Symbolic regular expression (SRE) patterns: parsing, predicates, compilation and symbolization."""

from wayeb_py.patterns.compiler import CompiledPattern, compile_pattern, load_pattern
from wayeb_py.patterns.errors import MissingAttributeError, PatternSyntaxError, UnmatchedEventError
from wayeb_py.patterns.parser import Declarations, ParsedPattern, parse_declarations, parse_pattern
from wayeb_py.patterns.predicates import PREDICATES, Predicate, haversine_km, make_predicate
from wayeb_py.patterns.sentences import And, Atom, Not, Or, Sentence
from wayeb_py.patterns.symbolizer import Symbolizer

__all__ = [
    "PREDICATES",
    "And",
    "Atom",
    "CompiledPattern",
    "Declarations",
    "MissingAttributeError",
    "Not",
    "Or",
    "ParsedPattern",
    "PatternSyntaxError",
    "Predicate",
    "Sentence",
    "Symbolizer",
    "UnmatchedEventError",
    "compile_pattern",
    "haversine_km",
    "load_pattern",
    "make_predicate",
    "parse_declarations",
    "parse_pattern",
]
