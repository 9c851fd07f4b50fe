"""A real full disk for tests: a tiny tmpfs mounted in a private user and mount namespace.

Writing until the kernel answers ``ENOSPC`` is the only honest way to see what the collector and the factory
do on a full shared volume. No privileges are needed: ``unshare --user --map-root-user --mount`` gives the
child process its own mount table, where it may mount a tmpfs of a few KiB over a folder of the test's.
The scenario (a function of :mod:`tests.disk_full_scenarios`) runs in that child and prints a JSON result.

Where user namespaces are not available the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.repo_data import REPO_ROOT

_CHILD = (
    "import json, sys; from tests import disk_full_scenarios as s; "
    "print(json.dumps(getattr(s, sys.argv[1])(sys.argv[2])))"
)


def run_on_small_volume(scenario: str, folder: Path, size_kib: int = 64) -> dict[str, Any]:
    """Run ``disk_full_scenarios.<scenario>(mount)`` on a ``size_kib`` tmpfs mounted at ``folder``."""
    unshare = shutil.which("unshare")
    folder.mkdir(parents=True, exist_ok=True)
    script = 'mount -t tmpfs -o size="$1"k rtcef-small "$2" && shift 2 && exec "$@"'
    command = [str(unshare), "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh",
               str(size_kib), str(folder), sys.executable, "-c", _CHILD, scenario, str(folder)]  # fmt: skip
    if unshare is None:
        _unavailable("the unshare command (util-linux) is missing")
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0 and "mount" in result.stderr and "Traceback" not in result.stderr:
        _unavailable(f"cannot mount a tmpfs in a user namespace: {result.stderr.strip()[-300:]}")
    assert result.returncode == 0, f"scenario {scenario} failed:\n{result.stderr[-3000:]}"
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def _unavailable(why: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"no small volume for the disk-full tests: {why}")
    pytest.skip(f"no small volume for the disk-full tests: {why}")
