"""A dataset version whose claim check escapes the buckets folder is dead-lettered; the factory goes on."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from factory_fakes import write_buckets

from factory_job.factory_state import initial_state, step
from factory_job.state import Channel
from factory_job.tools import VolumeTools
from protocol.messages import AssemblyAck, DatasetVersion, DeadLetter
from protocol.settings import Settings, load_settings


def _version(version: int, paths: list[str]) -> DatasetVersion:
    return DatasetVersion(
        version=version, timestamp=0, bucket_starts=tuple(range(len(paths))), bucket_paths=tuple(paths)
    )


def _settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "vol")


def test_hostile_bucket_paths_are_dead_lettered_and_a_genuine_version_still_assembles(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    tools = VolumeTools(settings)
    frame = pd.DataFrame({"timestamp": range(100, 110), "mmsi": ["0227"] * 10})
    genuine = write_buckets(settings.buckets_dir, frame, 2)
    state = initial_state()

    hostile = [
        [genuine[0], "/etc/passwd"],
        [str(settings.buckets_dir / ".." / ".." / "secret.csv")],
        ["/dev/zero"],
    ]
    for version, paths in enumerate(hostile):
        state, out = step(state, _version(version, paths), settings, tools)
        assert [e.channel for e in out] == [Channel.DEAD_LETTER]
        letter = out[0].message
        assert isinstance(letter, DeadLetter) and f"dataset v{version} refused" in letter.reason
        assert "outside" in letter.reason and letter.source_topic == settings.datasets_topic
        assert state.current is None
    assert not settings.datasets_dir.exists() or not any(settings.datasets_dir.iterdir())

    state, out = step(state, _version(5, genuine), settings, tools)
    assert [e.channel for e in out] == [Channel.ASSEMBLY]
    assert isinstance(out[0].message, AssemblyAck) and out[0].message.version == 5
    assert state.current is not None and state.current.rows == 10


def test_an_oversize_bucket_is_dead_lettered(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "vol", max_bucket_bytes=16)
    frame = pd.DataFrame({"timestamp": range(100, 110), "mmsi": ["0227"] * 10})
    paths = write_buckets(settings.buckets_dir, frame, 1)
    state, out = step(initial_state(), _version(0, paths), settings, VolumeTools(settings))
    assert [e.channel for e in out] == [Channel.DEAD_LETTER]
    assert "more than the limit 16" in out[0].message.reason and state.current is None
