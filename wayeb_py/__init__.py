"""wayeb_py: pure-Python complex event forecasting with symbolic automata and prediction suffix trees.

Patterns (symbolic regular expressions) compile to a complete symbolic DFA over minterm symbols; a Symbolizer
turns events into those symbols for learning and forecasting.
"""

from wayeb_py.automata.sdfa import SDFA
from wayeb_py.patterns import CompiledPattern, PatternSyntaxError, compile_pattern, load_pattern
from wayeb_py.symbolize import Symbolizer

__all__ = ["SDFA", "CompiledPattern", "PatternSyntaxError", "Symbolizer", "compile_pattern", "load_pattern"]

# SPST learning, forecasting, evaluation and the streaming engine.
from wayeb_py.counting import CountCache, fit_counts
from wayeb_py.engine import Forecast, RunState, SPSTModel, StepResult
from wayeb_py.estimator import SPSTForecaster
from wayeb_py.evaluation import Metrics
from wayeb_py.forecasting import ForecastParams
from wayeb_py.model_file import ModelFileError
from wayeb_py.pst import CounterSuffixTree, LearnParams, PredictionSuffixTree
from wayeb_py.scoring import score_stream

__all__ += [
    "CountCache",
    "CounterSuffixTree",
    "Forecast",
    "ForecastParams",
    "LearnParams",
    "Metrics",
    "ModelFileError",
    "PredictionSuffixTree",
    "RunState",
    "SPSTForecaster",
    "SPSTModel",
    "StepResult",
    "fit_counts",
    "score_stream",
]
