"""The shared volume that every job mounts (``DATA_DIR``): crash-safe file writes and the model registry.

The factory publishes models here, the inference job and the controller read which model is current, and the
collector keeps its version floor here; all of them write through :mod:`shared_volume.files`.
"""
