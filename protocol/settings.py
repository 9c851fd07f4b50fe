"""Every name and tunable of the system, in one typed place, read from environment variables.

Variable names follow the Flink-RTCEF documentation (``KAFKA_BOOTSTRAP_SERVERS``, ``INSTRUCTION_TOPIC``,
``REPORT_TOPIC``, ``COMMAND_TOPIC``, ``SYNC_TOPIC``, ``DATASETS_TOPIC``, ``ASSEMBLY_TOPIC``, ``DATA_DIR``...).
Defaults are the original RTCEF's where it differs from the Flink fork (weekly buckets and reports, K=4
buckets per dataset, trend observer), so an unconfigured deployment behaves like the published system.

A wrong value fails at start with :class:`SettingsError`, whose message names the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from protocol.bounds import MAX_BUCKETS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WEEK_SECONDS = 7 * 24 * 3600


class Domain(StrEnum):
    MARITIME = "maritime"
    FINANCE = "finance"

    @property
    def ticks_per_second(self) -> int:
        """Units of an input event's ``timestamp`` per second: maritime events carry epoch seconds, card
        transactions epoch milliseconds (as in the card datasets). Every setting of event time in seconds
        (``*_s``) is multiplied by this before it meets a timestamp; every stream time is divided by it
        before it meets a wall-clock duration."""
        return 1000 if self is Domain.FINANCE else 1

    @property
    def partition_key(self) -> str:
        """The attribute that keys this domain's input events (``MaritimeEvent.key``,
        ``CardTransaction.key``): the collector splits its bucket files by it, the factory merges by it."""
        return "pan" if self is Domain.FINANCE else "mmsi"

    def seconds_to_ticks(self, seconds: float) -> int:
        """``seconds`` of event time in the unit of this domain's timestamps (rounded to the nearest)."""
        return round(seconds * self.ticks_per_second)


class BucketAlignment(StrEnum):
    FIRST_EVENT = "first_event"  # the original RTCEF: buckets start at the first event seen
    EPOCH = "epoch"  # the Flink fork: buckets aligned to multiples of the size since 1970


class OutputGuarantee(StrEnum):
    """How the user-facing outputs (forecasts, score reports) are written to Kafka."""

    AT_LEAST_ONCE = "at-least-once"  # visible at once; a failover may repeat what followed the checkpoint
    EXACTLY_ONCE = "exactly-once"  # Kafka transactions committed with each checkpoint (read_committed)


class ObserverPolicy(StrEnum):
    TREND = "trend"  # original RTCEF regression over the last K reports
    DIFFERENCE = "difference"  # the Flink fork's difference rule


MAX_COLLECTOR_PARTS = 128
"""Most bucket writers of the collector: the key groups of its writer operator (``collector_job.parts``)."""

DLQ_SUFFIX = ".dlq"
"""Suffix of the per-topic dead-letter topics: a record of ``<topic>`` that a job rejects goes to
``<topic>.dlq``."""

CONSUMED_TOPICS = (
    "input_topic",
    "instruction_topic",
    "command_topic",
    "report_topic",
    "sync_topic",
    "datasets_topic",
    "assembly_topic",
)
"""The topic settings some job reads; each has a ``.dlq`` companion (forecasts, scores: written only)."""


class SettingsError(ValueError):
    """A setting has a wrong value; the message names the environment variable."""


class Settings(BaseSettings):
    """Configuration of all four jobs, the mocks and the operations scripts."""

    model_config = SettingsConfigDict(frozen=True, case_sensitive=False, extra="ignore")

    # --- Kafka
    kafka_bootstrap_servers: str = Field(default="localhost:9092", min_length=1)
    input_topic: str = "input"
    instruction_topic: str = "instructions"
    command_topic: str = "factory_commands"
    report_topic: str = "factory_reports"
    sync_topic: str = "enginesync"
    datasets_topic: str = "datasets"
    assembly_topic: str = "assembly_reports"
    forecast_topic: str = "forecasts"
    score_topic: str = "scores"
    dead_letter_topic: str = "dead_letters"
    consumer_group_prefix: str = "rtcef"

    # --- shared volume and pattern
    data_dir: Path = PROJECT_ROOT / "run" / "data"
    domain: Domain = Domain.MARITIME
    pattern_path: Path | None = None
    declarations_path: Path | None = None
    bootstrap_model_path: Path | None = None
    # A path that arrives in a message (a bucket of a dataset version, a model announced by PLAY) must name
    # a regular file in its folder under DATA_DIR of at most this many bytes (shared_volume.claims).
    max_bucket_bytes: int = Field(default=1 << 30, ge=1)
    max_model_bytes: int = Field(default=256 << 20, ge=1)

    # --- forecasting (the SAME values for inference and factory scoring)
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    horizon: int = Field(default=600, ge=1)
    max_spread: int = Field(default=5, ge=0)
    order: int = Field(default=2, ge=1, le=10)
    p_min: float = Field(default=0.001, ge=0.0, le=1.0)
    gamma: float = Field(default=0.001, ge=0.0, le=1.0)
    alpha: float = Field(default=0.0, ge=0.0)
    r: float = Field(default=1.05, gt=1.0)

    # --- collector
    bucket_size_s: int = Field(default=WEEK_SECONDS, ge=1)
    bucket_alignment: BucketAlignment = BucketAlignment.FIRST_EVENT
    bucket_prefix: str = "dt_bucket_"
    history_k: int = Field(default=4, ge=1)
    collector_fsync_rows: int = Field(default=1000, ge=1)  # rows per bucket file between fsyncs (1 = per row)
    # Bucket writers (collector_job.parts): each writes the rows of its share of the partition keys to
    # ``<bucket>_part-<n>.csv``; 1 keeps one writer and plain ``<bucket>.csv`` names. None = PARALLELISM (at
    # most 128, the writer's key groups). Part of the collector's state layout: restore with the same value.
    collector_parts: int | None = Field(default=None, ge=1, le=MAX_COLLECTOR_PARTS)

    # --- inference scoring and observer
    reporting_interval_s: int = Field(default=WEEK_SECONDS, ge=1)
    watermark_delay_s: int = Field(default=60, ge=0)
    # Score intervals close on the newest delta timestamp seen, trusted only after this much processing
    # time: the engine's shards deliver deltas out of event-time order (inference_job.closing).
    score_hold_ms: int = Field(default=2000, ge=0)
    # The engine keys its Flink state by shard (hash of the partition key modulo ``engine_shards``) and
    # keeps each partition key's run in a MapState entry of its shard, so that score deltas of many keys
    # travel to the single aggregator in one batch record (at most ``score_batch_size`` deltas, flushed
    # at the latest ``score_flush_ms`` of processing time later) instead of one record per event.
    engine_shards: int = Field(default=128, ge=1, le=32768)
    # Input events reach the engine in per-shard batches formed in the JVM over this much processing
    # time (inference_job.event_batches): what one Python record costs is paid per batch, not per event.
    event_batch_ms: int = Field(default=50, ge=1, le=10_000)
    score_batch_size: int = Field(default=512, ge=1)
    score_flush_ms: int = Field(default=200, ge=1)
    # Liveness of a pause (inference_job.shard): a shard of the engine that has held events for
    # ``pause_timeout_ms`` of processing time without a PLAY, or holds ``max_pause_buffer`` events,
    # replays them and resumes on its current models (logged, and counted in the scores as
    # ``resumed_without_play``); a PLAY arriving later still swaps.
    pause_timeout_ms: int = Field(default=300_000, ge=1)
    max_pause_buffer: int = Field(default=10_000, ge=1)
    observer_policy: ObserverPolicy = ObserverPolicy.TREND
    observer_k: int = Field(default=3, ge=1)
    observer_slope_threshold: float = -0.025
    observer_guard: int = Field(default=4, ge=0)
    observer_low_score: float = 0.2
    observer_train_diff: float = 0.05
    observer_optimize_diff: float = 0.10

    # --- controller / optimiser
    optimiser_preset: str = "rtcef"  # "rtcef": 4 dims; "flink": (pMin, gamma) as Flink-RTCEF
    optimiser_steps: int = Field(default=15, ge=1)
    optimiser_initial_points: int = Field(default=10, ge=1)
    optimiser_keep_samples: int = Field(default=5, ge=0)
    optimiser_seed: int = 1234
    # JSON list of {"params": {confidence, order, p_min, gamma}, "objective": -mcc} warm-starting the first
    # optimisation (the original's offline samples); None = the first session starts from LHS points
    optimiser_prior_path: Path | None = None
    report_timeout_s: float = Field(default=600.0, gt=0.0)
    report_retries: int = Field(default=1, ge=0)

    # --- factory
    min_dataset_events: int = Field(default=50, ge=1)
    # Commands that arrive before any dataset wait this long, then get an error report (shorter than the
    # controller's report_timeout_s so that the controller hears the reason instead of timing out).
    factory_queue_timeout_s: float = Field(default=300.0, gt=0.0)
    # A TRAIN / OPT_INITIALISE waits until the assembled dataset reaches the instruction's event time minus
    # this slack (seconds of event time), as the original factory did, so it never trains on stale data.
    dataset_coverage_slack_s: int = Field(default=600, ge=0)

    # --- outliers and impossible counters (docs/collector_job.md, factory_job.md, inference_job.md)
    # An event stamped more than this after the stream's progress (collector: the newest event time it
    # trusts; inference engine: its shard's; score aggregator: the scores') is not trusted: it is
    # dead-lettered (collector, engine) or counted at the progress (aggregator). Seconds of event time,
    # converted to each domain's timestamp unit.
    max_event_ahead_s: int = Field(default=86_400, ge=1, le=100 * 365 * 86_400)
    # Records that agree with each other needed to anchor a stream that has none yet (the collector's
    # first events) or to move an anchor that they all contradict (event time or dataset versions jumping
    # further than their bound): one outlier cannot decide alone.
    anchor_quorum: int = Field(default=3, ge=1, le=64)
    # The collector follows event time per input partition (collector_job.event_guard); a partition that
    # delivered nothing for this long (processing time) no longer holds the watermark back.
    partition_idle_ms: int = Field(default=10_000, ge=1)
    # Largest step between two dataset versions the factory takes in line (genuine versions step by
    # 1), and how far ahead of the controller's own counters a report's session or command number may be.
    max_counter_step: int = Field(default=100, ge=1)

    # --- Flink jobs
    checkpoint_interval_ms: int = Field(default=10_000, ge=100)
    # Forecasts and score reports: at-least-once (default: visible within the bundle time, a failover may
    # repeat the records produced after the last checkpoint) or exactly-once (Kafka transactions committed
    # with each checkpoint: read with isolation.level=read_committed, visible a checkpoint interval later).
    # The control topics stay at-least-once: their consumers de-duplicate by id and the loop needs latency.
    output_guarantee: OutputGuarantee = OutputGuarantee.AT_LEAST_ONCE
    # Kafka's limit on an open transaction (the broker allows at most 15 min by default); it must outlast
    # a checkpoint interval plus a failover, or a restored job finds its transactions aborted.
    transaction_timeout_ms: int = Field(default=600_000, ge=1000, le=900_000)
    parallelism: int = Field(default=1, ge=1)
    # PyFlink data exchange (None = Flink's defaults: 100000 records / 1000 ms, 100 ms): a Python operator
    # hands its output back to Java when a bundle is full or old enough, so the bundle time bounds the
    # latency each Python operator adds; ``benchmarks/bench_inference.py`` measures 1000 / 20 / 10.
    python_bundle_size: int | None = Field(default=None, ge=1)
    python_bundle_time_ms: int | None = Field(default=None, ge=1)
    buffer_timeout_ms: int | None = Field(default=None, ge=0)
    # Chained JVM operators hand records on without copying them (``pipeline.object-reuse``). Safe here:
    # every JVM operator of the jobs is one of Flink's own (Kafka, SQL, PyFlink's runners), none of which
    # keeps or changes a record it was handed; it takes a quarter off the inference job's JVM time.
    object_reuse: bool = True

    @model_validator(mode="after")
    def _topics_distinct(self) -> Settings:
        topics = dict(self.topics())
        topics.update({f"{f}{DLQ_SUFFIX}": self.dlq_topic(getattr(self, f)) for f in CONSUMED_TOPICS})
        seen: dict[str, str] = {}
        for field, name in topics.items():
            if name in seen:
                raise ValueError(f"{field.upper()} and {seen[name].upper()} name the same topic {name!r}")
            seen[name] = field
        return self

    @model_validator(mode="after")
    def _dataset_lists_fit(self) -> Settings:
        files = self.history_k * self.collector_part_count
        if files > MAX_BUCKETS:
            raise ValueError(
                f"HISTORY_K x COLLECTOR_PARTS = {files} bucket files per dataset version, more than the "
                f"{MAX_BUCKETS} a DatasetVersion may list"
            )
        return self

    @property
    def collector_part_count(self) -> int:
        """Bucket writers of the collector: ``COLLECTOR_PARTS``, else ``PARALLELISM`` (at most 128)."""
        return self.collector_parts or min(self.parallelism, MAX_COLLECTOR_PARTS)

    def topics(self) -> dict[str, str]:
        """Every topic the system uses, keyed by its setting name."""
        return {name: getattr(self, name) for name in type(self).model_fields if name.endswith("_topic")}

    @staticmethod
    def dlq_topic(topic: str) -> str:
        """The dead-letter topic of ``topic`` (``<topic>.dlq``)."""
        return f"{topic}{DLQ_SUFFIX}"

    def dead_letter_topics(self) -> dict[str, str]:
        """Dead-letter topic of every topic a job consumes, keyed by the consumed topic's name.

        A rejected record goes to the dead-letter topic of the topic it came from, so an operator sees at a
        glance which stream is sick; records whose source is not one of these go to ``dead_letter_topic``.
        """
        return {getattr(self, field): self.dlq_topic(getattr(self, field)) for field in CONSUMED_TOPICS}

    def all_topics(self) -> list[str]:
        """Every topic to create: the system topics plus the per-topic dead-letter topics."""
        return [*self.topics().values(), *self.dead_letter_topics().values()]

    # --- derived paths on the shared volume
    @property
    def buckets_dir(self) -> Path:
        return self.data_dir / "buckets"

    @property
    def datasets_dir(self) -> Path:
        return self.data_dir / "datasets"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def registry_path(self) -> Path:
        return self.models_dir / "registry.json"

    def resolved_pattern(self) -> tuple[Path, Path]:
        """Pattern and declarations files for the configured domain (explicit paths win)."""
        default_dir = PROJECT_ROOT / "patterns" / self.domain.value
        pattern = self.pattern_path or default_dir / "pattern.sre"
        declarations = self.declarations_path or default_dir / "declarations.sre"
        return pattern, declarations


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and explicit overrides); wrong values name their variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ())) or "settings"
            problems.append(f"{loc.upper()}: {err.get('msg')} (got {err.get('input')!r})")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Settings as a job submitted with the environment ``env`` would read them (unknown names ignored)."""
    fields = Settings.model_fields
    return load_settings(**{name.lower(): value for name, value in env.items() if name.lower() in fields})
