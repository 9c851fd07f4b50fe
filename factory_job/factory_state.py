"""The factory's state machine: ``step(state, message) -> (state, outputs)`` over both of its inputs.

Inputs are a :class:`~protocol.messages.FactoryCommand` (from the controller), a
:class:`~protocol.messages.DatasetVersion` (from the collector) or a :class:`~factory_job.state.Tick` (a
processing-time timer). The two Kafka inputs race, so:

* **Commands before the first dataset are buffered** in the state, in arrival order, and run as soon as a
  dataset is assembled. A command that has waited ``settings.factory_queue_timeout_s`` is answered with an
  error report ("no dataset available") on the next tick, so the controller can abort instead of hanging.
  While anything is buffered, later commands queue behind it, which keeps OPT_STEP after its OPT_INITIALISE.
* **Commands are idempotent by id.** Every report is remembered (the last
  :data:`~factory_job.state.MAX_REMEMBERED_REPLIES`); a re-delivered command gets the same report again and
  trains nothing. A re-delivered command that is still buffered is ignored.
* **Datasets are idempotent by version.** The current version again is re-acknowledged without re-assembly;
  an older version is ignored (its buckets are part of newer versions or already gone).
* **A version number cannot be hijacked.** Genuine versions step by one, so only a version at most
  ``settings.max_counter_step`` after the current one is taken in line. One further away, ahead or behind
  (a corrupt or forged record, or a first version that was itself the outlier) is refused with a dead
  letter, but kept as a *challenger* until the current lineage goes on. ``settings.anchor_quorum``
  challengers that follow each other in small steps are a new lineage (the collector's numbering really
  moved, or the current version was the outlier): they are assembled in order after all and become
  current. So one huge version can never make the factory ignore the genuine ones after it.

Side effects go through :class:`~factory_job.state.FactoryTools`; given the same tools the step is
deterministic, which is what the tests rely on.
"""

from __future__ import annotations

import logging

from factory_job.commands import error_report, execute
from factory_job.state import (
    MAX_PENDING_COMMANDS,
    MAX_REMEMBERED_REPLIES,
    Channel,
    Emit,
    FactoryState,
    FactoryTools,
    PendingCommand,
    Tick,
)
from protocol.codec import dead_letter, decode, encode
from protocol.messages import AssemblyAck, CommandType, DatasetVersion, FactoryCommand, FactoryReport
from protocol.settings import Settings

__all__ = ["JOB_NAME", "initial_state", "load_state", "next_deadline", "step", "store_state"]

LOG = logging.getLogger(__name__)

JOB_NAME = "factory_job"

Message = FactoryCommand | DatasetVersion | Tick
Outputs = list[Emit]


def initial_state(model_counter: int = 0) -> FactoryState:
    """The state of a factory that has seen nothing; ``model_counter`` is the first model number to use."""
    return FactoryState(model_counter=model_counter)


def load_state(raw: str | None, tools: FactoryTools | None = None) -> FactoryState:
    """State from its JSON form. Without one (a first start, or a start without checkpoint), the model
    counter continues after the models already on the volume, so no published model is ever overwritten."""
    if raw:
        return FactoryState.model_validate_json(raw)
    return initial_state(tools.first_free_model_number() if tools is not None else 0)


def store_state(state: FactoryState) -> str:
    """JSON form of the state (what the Flink wrapper keeps in ValueState)."""
    return state.model_dump_json()


def next_deadline(state: FactoryState, settings: Settings) -> float | None:
    """Wall-clock time at which the oldest buffered command expires, if any is buffered."""
    if not state.pending:
        return None
    return state.pending[0].received_at + settings.factory_queue_timeout_s


def _remember(state: FactoryState, report: FactoryReport) -> FactoryState:
    replies = dict(state.replies)
    replies.pop(report.reply_id, None)
    replies[report.reply_id] = encode(report)
    while len(replies) > MAX_REMEMBERED_REPLIES:
        replies.pop(next(iter(replies)))
    return state.model_copy(update={"replies": replies})


def _run(
    state: FactoryState, command: FactoryCommand, settings: Settings, tools: FactoryTools
) -> tuple[FactoryState, Outputs]:
    state, report = execute(state, command, settings, tools)
    return _remember(state, report), [Emit(Channel.REPORT, report)]


_DATASET_CHOOSING = (CommandType.TRAIN, CommandType.OPT_INITIALISE)


def covers(state: FactoryState, command: FactoryCommand, settings: Settings) -> bool:
    """True when the current dataset is recent enough for ``command``.

    TRAIN and OPT_INITIALISE pick the dataset they work on: they wait until it reaches the event time of the
    instruction behind them (minus a slack), otherwise a retrain right after a bucket closed would race the
    dataset notification and learn from the previous window. The other commands use the locked dataset.
    """
    if state.current is None:
        return False
    if command.type not in _DATASET_CHOOSING:
        return True
    ticks = settings.domain.ticks_per_second
    last = state.current.last_ts
    return last is None or last >= command.timestamp - settings.dataset_coverage_slack_s * ticks


def _on_command(
    state: FactoryState, command: FactoryCommand, settings: Settings, tools: FactoryTools
) -> tuple[FactoryState, Outputs]:
    known = state.replies.get(command.id)
    if known is not None:
        LOG.info("command %s seen before: re-sending its report", command.id)
        return state, [Emit(Channel.REPORT, decode(FactoryReport, known))]
    if any(p.command.id == command.id for p in state.pending):
        return state, []
    if state.pending or not covers(state, command, settings):
        if len(state.pending) >= MAX_PENDING_COMMANDS:
            report = error_report(command, "no dataset available (command queue full)")
            return _remember(state, report), [Emit(Channel.REPORT, report)]
        LOG.info("command %s buffered until a dataset reaching t=%d", command.id, command.timestamp)
        queued = state.pending + (PendingCommand(command=command, received_at=tools.clock()),)
        return state.model_copy(update={"pending": queued}), []
    return _run(state, command, settings, tools)


def _drain(state: FactoryState, settings: Settings, tools: FactoryTools) -> tuple[FactoryState, Outputs]:
    """Run the buffered commands in arrival order while the head of the queue has the data it needs."""
    outputs: Outputs = []
    while state.pending and covers(state, state.pending[0].command, settings):
        head = state.pending[0]
        state = state.model_copy(update={"pending": state.pending[1:]})
        state, emitted = _run(state, head.command, settings, tools)
        outputs.extend(emitted)
    return state, outputs


def _on_dataset(
    state: FactoryState, message: DatasetVersion, settings: Settings, tools: FactoryTools
) -> tuple[FactoryState, Outputs]:
    current = state.current
    if current is None:
        return _assemble(state, message, settings, tools)
    distance = message.version - current.version
    if distance == 0:
        LOG.info("dataset v%d seen before: re-acknowledging", message.version)
        ack = AssemblyAck(
            version=current.version, bucket_starts=current.bucket_starts, dataset_path=current.path
        )
        return state, [Emit(Channel.ASSEMBLY, ack)]
    if -settings.max_counter_step <= distance < 0:
        LOG.warning("dataset v%d is older than the current v%d: ignored", message.version, current.version)
        return state, []
    if distance > settings.max_counter_step or distance < 0:
        return _challenge(state, message, settings, tools)
    state, outputs = _assemble(state, message, settings, tools)
    if state.current is not current and state.challengers:
        LOG.info("the current lineage went on with v%d: challengers v%s dropped",
                 message.version, [c.version for c in state.challengers])  # fmt: skip
        state = state.model_copy(update={"challengers": ()})
    return state, outputs


def _challenge(
    state: FactoryState, message: DatasetVersion, settings: Settings, tools: FactoryTools
) -> tuple[FactoryState, Outputs]:
    """Refuse a version out of line with the current one, but keep it: a quorum of agreeing ones
    becomes the lineage (and is then assembled after all)."""
    assert state.current is not None
    chain = state.challengers
    if any(c.version == message.version for c in chain):
        return state, []
    follows = bool(chain) and 0 < message.version - chain[-1].version <= settings.max_counter_step
    chain = (*chain, message) if follows else (message,)
    if len(chain) < settings.anchor_quorum:
        reason = (
            f"dataset version {message.version} is more than {settings.max_counter_step} away from the "
            f"current version {state.current.version}: refused (it is assembled after all only if "
            f"{settings.anchor_quorum - len(chain)} more versions follow it in line, a new lineage)"
        )
        LOG.warning("%s", reason)
        letter = dead_letter(
            source_topic=settings.datasets_topic, job=JOB_NAME, reason=reason, payload=encode(message)
        )
        return state.model_copy(update={"challengers": chain}), [Emit(Channel.DEAD_LETTER, letter)]
    LOG.warning("datasets v%s agree with each other, not with the current v%d: they become the lineage",
                [c.version for c in chain], state.current.version)  # fmt: skip
    state = state.model_copy(update={"challengers": ()})
    outputs: Outputs = []
    for challenger in chain:
        state, assembled = _assemble(state, challenger, settings, tools)
        outputs += assembled
    return state, outputs


def _assemble(
    state: FactoryState, message: DatasetVersion, settings: Settings, tools: FactoryTools
) -> tuple[FactoryState, Outputs]:
    """Assemble ``message``; on success it becomes current, is acknowledged and waiting commands run."""
    outcome = tools.assemble(message)
    outputs: Outputs = []
    for problem in outcome.problems:
        LOG.error("%s", problem)
        letter = dead_letter(
            source_topic=settings.datasets_topic, job=JOB_NAME, reason=problem, payload=encode(message)
        )
        outputs.append(Emit(Channel.DEAD_LETTER, letter))
    if outcome.dataset is None:
        return state, outputs

    dataset = outcome.dataset
    state = state.model_copy(update={"current": dataset})
    tools.delete_unused_datasets(state.paths_to_keep())
    ack = AssemblyAck(version=dataset.version, bucket_starts=dataset.bucket_starts, dataset_path=dataset.path)
    outputs.append(Emit(Channel.ASSEMBLY, ack))
    state, drained = _drain(state, settings, tools)
    return state, outputs + drained


def _on_tick(
    state: FactoryState, tick: Tick, settings: Settings, tools: FactoryTools
) -> tuple[FactoryState, Outputs]:
    """Expire the head of the queue after ``factory_queue_timeout_s``.

    With a dataset that merely lags behind the instruction, the command runs on it (late data beats no
    model); with no dataset at all it is answered with an error so the controller can abort.
    """
    outputs: Outputs = []
    while state.pending and state.pending[0].received_at + settings.factory_queue_timeout_s <= tick.now:
        expired = state.pending[0].command
        state = state.model_copy(update={"pending": state.pending[1:]})
        if state.current is not None:
            LOG.warning("command %s: no dataset reached t=%d in time; using dataset v%d",
                        expired.id, expired.timestamp, state.current.version)  # fmt: skip
            state, emitted = _run(state, expired, settings, tools)
            outputs.extend(emitted)
            continue
        report = error_report(
            command=expired,
            reason=f"no dataset available after waiting {settings.factory_queue_timeout_s:g} s",
        )
        state = _remember(state, report)
        outputs.append(Emit(Channel.REPORT, report))
    drained_state, drained = _drain(state, settings, tools)
    return drained_state, outputs + drained


def step(
    state: FactoryState, message: Message, settings: Settings, tools: FactoryTools
) -> tuple[FactoryState, Outputs]:
    """Apply one input to the factory state; returns the new state and what to emit, in order."""
    if isinstance(message, FactoryCommand):
        return _on_command(state, message, settings, tools)
    if isinstance(message, DatasetVersion):
        return _on_dataset(state, message, settings, tools)
    return _on_tick(state, message, settings, tools)
