"""Variable-order Markov model learning: counter suffix tree (counted once per dataset) and PST learning."""

from .counts import CounterSuffixTree, build_cst, split_segments
from .learn import LearnParams, learn_pst, smooth
from .tree import PredictionSuffixTree

__all__ = [
    "CounterSuffixTree",
    "LearnParams",
    "PredictionSuffixTree",
    "build_cst",
    "learn_pst",
    "smooth",
    "split_segments",
]
