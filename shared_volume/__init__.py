"""The shared volume that every job mounts (``DATA_DIR``): crash-safe file writes, the model registry and
confined claim checks.

The factory publishes models here, the inference job and the controller read which model is current, and the
collector keeps its version floor here; all of them write through :mod:`shared_volume.files`. A path that
arrives in a message is read only through :mod:`shared_volume.claims`, which keeps it inside its folder.
"""
