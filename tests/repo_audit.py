"""Records every file a test process opens beside the repository (the audit behind ``conftest``'s check).

Imported under one name only (``tests.repo_audit``), so the hook is installed once per process.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

from tests.repo_data import REPO_ROOT

_REPO_PREFIX = str(REPO_ROOT) + os.sep
_PARENT_PREFIX = str(REPO_ROOT.parent) + os.sep
_TOOL_PREFIXES = tuple(
    os.path.abspath(folder) + os.sep
    for folder in {sys.base_prefix, sys.prefix, sys.exec_prefix, tempfile.gettempdir()}
)
IN_TEMP_FOLDER = any(_PARENT_PREFIX.startswith(prefix) for prefix in _TOOL_PREFIXES)
"""The clone sits in the temporary folder (or the Python installation): everything beside it is then the
tools' own (tests' temporary files), so the audit cannot tell a sibling from them and records nothing."""
OUTSIDE_READS: list[str] = []
"""Paths beside the repository (in its parent folder, not in the repository) that a test process opened."""


def is_beside_repo(path: str) -> bool:
    """Whether ``path`` is in the repository's parent folder but not inside the repository itself.

    A user's clone has nothing beside it that the project may rely on. The repository itself, the Python
    installation, the temporary folder and hidden folders (``~/.cache``, ``~/.m2`` when the clone sits in a
    home folder) are fine.
    """
    absolute = os.path.abspath(path)
    if not absolute.startswith(_PARENT_PREFIX) or (absolute + os.sep).startswith(_REPO_PREFIX):
        return False
    if absolute.startswith(_TOOL_PREFIXES):
        return False
    return not absolute[len(_PARENT_PREFIX):].startswith(".")


def _audit_open(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and args and isinstance(args[0], str | bytes):
        path = os.fsdecode(args[0])
        if is_beside_repo(path):
            OUTSIDE_READS.append(path)


sys.addaudithook(_audit_open)
