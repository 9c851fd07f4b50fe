"""SPST forecasting: virtual states, waiting-time distributions and forecast tables."""

from .forecasts import (
    FORECAST_METHODS,
    ForecastParams,
    ForecastTable,
    build_forecast_table,
    full_scan,
    nextk,
    smart_scan,
)
from .vstates import VirtualAutomaton, remaining_percentage, retained_states
from .waiting import WT_MODES, waiting_times

__all__ = [
    "FORECAST_METHODS",
    "WT_MODES",
    "ForecastParams",
    "ForecastTable",
    "VirtualAutomaton",
    "build_forecast_table",
    "full_scan",
    "nextk",
    "remaining_percentage",
    "retained_states",
    "smart_scan",
    "waiting_times",
]
