"""Send one adaptation instruction (optimize or retrain) to the instruction topic, as the observer would.

Why: the controller and factory can be exercised without a running inference job or a drifting
stream; an operator (or a test) asks for a retrain or an optimisation by hand. The instruction is a
:class:`protocol.Instruction`, keyed by ``model_id`` and written to ``Settings.instruction_topic``.
The CLI prints what it sent, and exits non-zero with one line on stderr when the broker does not
answer within ``--timeout`` seconds or does not acknowledge the message.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Sequence

from mocks.kafka_io import BrokerUnreachable, DeliveryTally, ProducerLike, ensure_reachable, make_producer
from protocol import Instruction, InstructionType, MetricSet, SettingsError, encode, load_settings


class DeliveryFailed(RuntimeError):
    """The broker did not acknowledge the instruction."""


def build_instruction(
    kind: InstructionType,
    *,
    model_id: str = "default",
    timestamp: int | None = None,
    instruction_id: str | None = None,
    mcc: float | None = None,
    ticks_per_second: int = 1,
) -> Instruction:
    """A valid instruction; the id is unique per call unless given.

    The timestamp is event time in the domain's unit (``Domain.ticks_per_second``: seconds for maritime,
    milliseconds for cards) and defaults to now in that unit.
    """
    return Instruction(
        id=instruction_id or f"mock-{uuid.uuid4().hex[:12]}",
        type=kind,
        timestamp=int(time.time() * ticks_per_second) if timestamp is None else timestamp,
        model_id=model_id,
        metrics=None if mcc is None else MetricSet(mcc=mcc),
    )


def send_instruction(producer: ProducerLike, topic: str, instruction: Instruction, timeout_s: float) -> None:
    """Produce ``instruction`` and wait for its delivery report; raise :class:`DeliveryFailed` otherwise."""
    tally = DeliveryTally()
    producer.produce(
        topic, value=encode(instruction), key=instruction.model_id, on_delivery=tally.on_delivery
    )
    pending = producer.flush(timeout_s)
    if tally.delivered != 1:
        reason = tally.first_error or f"{pending} message(s) still pending after {timeout_s:g} s"
        raise DeliveryFailed(f"instruction {instruction.id} not acknowledged on {topic!r}: {reason}")


def build_parser() -> argparse.ArgumentParser:
    """The ``rtcef-instruct`` parser (also ``python -m mocks.mock_instruction_producer``), kebab-case."""
    p = argparse.ArgumentParser(prog="rtcef-instruct", description=__doc__.splitlines()[0])
    p.add_argument(
        "--type", required=True, choices=[t.value for t in InstructionType], dest="kind",
        help="what the controller is asked to do",
    )  # fmt: skip
    p.add_argument("--model-id", default="default", help="model the instruction is about (default: default)")
    p.add_argument("--timestamp", type=int, default=None,
                   help="event time of the instruction in the DOMAIN's unit (default: now)")  # fmt: skip
    p.add_argument(
        "--id", default=None, dest="instruction_id", help="instruction id (default: mock-<random>)"
    )
    p.add_argument("--mcc", type=float, default=None, help="attach a metric set with this MCC")
    p.add_argument(
        "--bootstrap", default=None, help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS)"
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the broker")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns 0 once the broker acknowledged the instruction."""
    p = build_parser()
    args = p.parse_args(argv)
    try:
        overrides = {"kafka_bootstrap_servers": args.bootstrap} if args.bootstrap else {}
        settings = load_settings(**overrides)
        instruction = build_instruction(
            InstructionType(args.kind),
            model_id=args.model_id,
            timestamp=args.timestamp,
            instruction_id=args.instruction_id,
            mcc=args.mcc,
            ticks_per_second=settings.domain.ticks_per_second,
        )
    except (SettingsError, ValueError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    bootstrap, topic = settings.kafka_bootstrap_servers, settings.instruction_topic
    producer = make_producer(bootstrap, delivery_timeout_s=args.timeout)
    try:
        ensure_reachable(producer, bootstrap, args.timeout, topic)
        send_instruction(producer, topic, instruction, args.timeout)
    except (BrokerUnreachable, DeliveryFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"sent to {topic!r} at {bootstrap}: {encode(instruction)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
