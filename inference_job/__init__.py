"""The inference job: per-key forecasting with run-time model swaps, global scoring and the observer.

Pure logic: :mod:`~inference_job.lifecycle` (per-key run, pause buffering, stream-time swaps),
:mod:`~inference_job.scoring` (interval reports) and :mod:`~inference_job.observer` (adaptation rule).
Flink functions: :mod:`~inference_job.parse_messages`, :mod:`~inference_job.engine_process`,
:mod:`~inference_job.score_aggregator`, :mod:`~inference_job.observer_process`; wiring in
:mod:`~inference_job.main`; the initial model in :mod:`~inference_job.bootstrap`.
"""
