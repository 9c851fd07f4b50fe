"""Automata for symbolic regular expressions: Thompson SNFA, minterms, subset construction, the SDFA table.

This package knows nothing about predicates or events: guards are opaque sentence objects (for minterm
pruning) or sentence indices (inside the automata).
"""

from wayeb_py.automata.determinize import determinize
from wayeb_py.automata.minterms import Minterm, build_minterms
from wayeb_py.automata.regex import Concat, Lit, Regex, Star, Union, concat, union
from wayeb_py.automata.sdfa import NONOVERLAP, OVERLAP, SDFA
from wayeb_py.automata.snfa import EPSILON, SNFA, TRUE, build_snfa

__all__ = [
    "EPSILON",
    "NONOVERLAP",
    "OVERLAP",
    "SDFA",
    "SNFA",
    "TRUE",
    "Concat",
    "Lit",
    "Minterm",
    "Regex",
    "Star",
    "Union",
    "build_minterms",
    "build_snfa",
    "concat",
    "determinize",
    "union",
]
