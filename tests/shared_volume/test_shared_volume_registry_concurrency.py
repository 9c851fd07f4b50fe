"""Concurrent publishers in separate processes: the registry's file lock loses no publication."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

from protocol.messages import CreationMethod
from shared_volume.registry import RegistryEntry, history_path, load_history, load_registry, publish

PROCESSES = 4
PUBLISHES = 50


def _publisher(path: str, worker: int, start: Any) -> None:
    """Publish ``PUBLISHES`` distinct models as fast as possible once every worker is ready."""
    start.wait()
    for i in range(PUBLISHES):
        entry = RegistryEntry(
            model_id=f"wayeb_{worker}_{i}",
            path=f"/vol/models/wayeb_{worker}_{i}.spst",
            creation_method=CreationMethod.RETRAIN,
            created_at=float(i),
        )
        publish(Path(path), entry)


def test_concurrent_publishers_lose_no_entry(tmp_path: Path) -> None:
    path = tmp_path / "models" / "registry.json"
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    workers = [context.Process(target=_publisher, args=(str(path), w, start)) for w in range(PROCESSES)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * PROCESSES

    expected = {f"wayeb_{w}_{i}" for w in range(PROCESSES) for i in range(PUBLISHES)}
    registry = load_registry(path)
    assert {m.model_id for m in registry.models} == expected
    assert len(registry.models) == PROCESSES * PUBLISHES
    assert registry.current in expected

    lines = history_path(path).read_text(encoding="utf-8").splitlines()
    assert len(lines) == PROCESSES * PUBLISHES
    assert all(json.loads(line)["model_id"] in expected for line in lines)
    assert {e.model_id for e in load_history(history_path(path))} == expected
    # each worker's own publications keep their order in the history
    for w in range(PROCESSES):
        mine = [e.model_id for e in load_history(history_path(path)) if e.model_id.startswith(f"wayeb_{w}_")]
        assert mine == [f"wayeb_{w}_{i}" for i in range(PUBLISHES)]
