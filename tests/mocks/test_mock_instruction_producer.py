"""The instruction mock builds valid Instructions, sends them to the configured topic and fails loudly."""

from __future__ import annotations

import time

import pytest

from mocks.mock_instruction_producer import DeliveryFailed, build_instruction, main, send_instruction
from protocol import Instruction, InstructionType, decode, encode, load_settings


def test_built_instructions_are_valid_and_unique() -> None:
    first = build_instruction(InstructionType.OPTIMIZE, model_id="m7", timestamp=1443877181)
    second = build_instruction(InstructionType.RETRAIN, mcc=0.25)
    assert decode(Instruction, encode(first)) == first
    assert (first.type, first.model_id, first.timestamp, first.metrics) == (
        "optimize",
        "m7",
        1443877181,
        None,
    )
    assert (
        second.type is InstructionType.RETRAIN and second.metrics is not None and second.metrics.mcc == 0.25
    )
    assert first.id != second.id and abs(second.timestamp - time.time()) < 5


def test_send_writes_to_the_instruction_topic_keyed_by_model(fake_producer) -> None:
    producer = fake_producer()
    topic = load_settings().instruction_topic
    instruction = build_instruction(
        InstructionType.RETRAIN, model_id="dyn-3", instruction_id="mock-1", timestamp=9
    )
    send_instruction(producer, topic, instruction, timeout_s=1.0)
    assert len(producer.sent) == 1
    sent_topic, key, value = producer.sent[0]
    assert (sent_topic, key) == (topic, "dyn-3")
    assert decode(Instruction, value) == instruction


@pytest.mark.parametrize("behaviour", [{"fail_every": 1}, {"stuck": 1}])
def test_send_raises_when_not_acknowledged(fake_producer, behaviour: dict[str, int]) -> None:
    with pytest.raises(DeliveryFailed, match="not acknowledged"):
        send_instruction(
            fake_producer(**behaviour), "instructions", build_instruction(InstructionType.OPTIMIZE), 0.1
        )


def test_cli_exits_non_zero_with_one_line_when_the_broker_is_unreachable(capsys) -> None:
    started = time.monotonic()
    code = main(
        ["--type", "optimize", "--model-id", "default", "--bootstrap", "127.0.0.1:1", "--timeout", "1"]
    )
    captured = capsys.readouterr()
    assert code == 1 and time.monotonic() - started < 10
    assert captured.out == ""
    assert (
        captured.err.startswith("error: no Kafka broker reachable at 127.0.0.1:1")
        and captured.err.count("\n") == 1
    )


def test_cli_rejects_an_unknown_type() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--type", "train"])
    assert exc.value.code == 2
