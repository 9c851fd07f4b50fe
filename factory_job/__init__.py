"""The model factory job: assembles datasets from the collector's buckets, trains and scores SPST models for
the controller, and publishes the models the engines should use.

Entry point: ``python -m factory_job.main``. The protocol logic is :func:`factory_job.factory_state.step`.
"""
