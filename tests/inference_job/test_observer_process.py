"""The observer function: reports in, instructions out, state kept across instances."""

from __future__ import annotations

from flink_fakes import FakeRuntimeContext

from inference_job.observer import ObserverConfig
from inference_job.observer_process import ObserverProcess
from protocol.codec import encode
from protocol.messages import Instruction, InstructionType, MetricSet, ScoreReport


def report(ts: int, mcc: float) -> str:
    batch = MetricSet(tp=1, tn=1, fp=1, fn=1, mcc=mcc)
    return encode(ScoreReport(timestamp=ts, interval_start=ts, model_id="m0", batch=batch, runtime=batch))


def test_instructions_follow_the_rule_and_ids_survive_a_restart() -> None:
    runtime = FakeRuntimeContext()
    fn = ObserverProcess(ObserverConfig())
    fn.open(runtime)  # type: ignore[arg-type]
    assert list(fn.process_element(report(1, 0.6), None)) == []  # type: ignore[arg-type]
    (raw,) = list(fn.process_element(report(2, 0.5), None))  # type: ignore[arg-type]
    first = Instruction.model_validate_json(raw)
    assert (first.id, first.type, first.timestamp) == ("instr-0", InstructionType.RETRAIN, 2)
    restarted = ObserverProcess(ObserverConfig())
    restarted.open(runtime)  # type: ignore[arg-type]
    (raw,) = list(restarted.process_element(report(3, 0.4), None))  # type: ignore[arg-type]
    second = Instruction.model_validate_json(raw)
    assert (second.id, second.type) == ("instr-1", InstructionType.OPTIMIZE)  # within the guard
