"""Offline evaluation of run-time adaptation: static vs retrain-only vs the full RTCEF loop on one stream.

The stream is replayed week by week (the original experimental protocol at weekly granularity); every mode
starts from the same initial model and is scored per week by the streaming engine. See ``docs/evaluation.md``.

Modules: :mod:`~rtcef_eval.weeks` (weekly splitting), :mod:`~rtcef_eval.simulation` (the replay loop over an
injected backend), :mod:`~rtcef_eval.wayeb_backend` (the ``wayeb_py`` backend), :mod:`~rtcef_eval.report`
(statistics, MPPT, table, files, plot), :mod:`~rtcef_eval.cli` (the command).
"""

from rtcef_eval.simulation import Backend, Mode, ModeResult, WeekRecord, simulate
from rtcef_eval.weeks import Week, history_window, split_weeks

__all__ = ["Backend", "Mode", "ModeResult", "Week", "WeekRecord", "history_window", "simulate", "split_weeks"]
