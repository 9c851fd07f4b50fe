"""The wayeb_py tests' inputs: the repository's ``data/`` folder (see tests/repo_data.py)."""

from __future__ import annotations

from tests.repo_data import MARITIME_COLUMNS, data_file, demo_frame, maritime_frame, pattern_files

data_path = data_file

__all__ = ["MARITIME_COLUMNS", "data_path", "demo_frame", "maritime_frame", "pattern_files"]
