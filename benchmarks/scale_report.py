"""The scale benchmark's printed report: figures next to their targets, then memory, state, disk, time.

Part of ``bench_scale.py`` (see its docstring).
"""

from __future__ import annotations

from typing import Any

from bench_common import row

TARGETS = {"events": 5_000_000, "lost": 0, "duplicated": 0, "wall_s": 3600}


def _size(value: float) -> str:
    """Bytes as KB, MB or GB."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20)):
        if value >= scale:
            return f"{value / scale:,.1f} {unit}"
    return f"{value / 1024:,.0f} KB"


def print_table(results: dict[str, Any]) -> None:
    """Figures next to the targets, then where memory, state, disk and time went."""
    events = results["stream"]["events"]
    forecasts, buckets = results["forecasts"], results["buckets"]
    print("\n[figures vs targets]")
    row("events (vessels, weeks)", f"{events:,}", f">= {TARGETS['events']:,}", events >= TARGETS["events"])
    row("outcome", results["outcome"], "complete", results["outcome"] == "complete")
    row("wall time, first event fed -> all done", f"{results['wall_s']:,.0f} s", f"<= {TARGETS['wall_s']} s",
        results["wall_s"] <= TARGETS["wall_s"])
    row("events/s end to end", f"{results['events_per_s']:,.0f}", "-")
    row("events forecast exactly once", f"{forecasts['exactly_once']:,}", f"= {events:,}",
        forecasts["exactly_once"] == events)
    row("events without a forecast (lost)", f"{forecasts['lost']:,}", "0", forecasts["lost"] == 0)
    row("duplicated forecasts", f"{forecasts['duplicated']:,}", "0", forecasts["duplicated"] == 0)
    row("forecasts of no event", f"{forecasts['unexpected']:,}", "0", forecasts["unexpected"] == 0)
    row("bucket rows written", f"{buckets['rows']:,}", f"= {events:,}", buckets["equals_events"])
    row("dataset versions / models produced", f"{results['datasets']['versions']} / {len(results['models'])}",
        "-")
    row("MPPT (model production / wall time)", f"{results['mppt_percent']} %", "-")
    row("dead letters", f"{sum(results['dead_letters'].values()):,}", "0", not results["dead_letters"])
    row("job restarts", f"{sum(max(n, 0) for n in results['restarts'].values())}", "0",
        all(n == 0 for n in results["restarts"].values()))
    instructions = [f"{i['type']} ({i['id']})" for i in results["instructions"]]
    models = [f"{m['model_id']} {m['command_type']} {float(m['production_time'] or 0):.1f} s"
              for m in results["models"]]  # fmt: skip
    print(f"  instructions: {', '.join(instructions) or 'none'}")
    print(f"  models: {', '.join(models) or 'none'}")
    print("\n[peak RSS per role (sum of its processes)]")
    for role, mb in results["rss"]["peak_by_role_mb"].items():
        print(f"  {mb:>8,.0f} MB  {role}")
    print(f"  {results['rss']['peak_total_mb']:>8,.0f} MB  all of them at once (peak)")
    print("\n[keyed state: latest completed checkpoint at the end (peak during the run)]")
    for job, state in results["state"].items():
        if "error" in state:
            print(f"  {job}: {state['error']}")
            continue
        top = max((state.get("by_operator") or {"-": 0}).items(), key=lambda kv: kv[1])
        print(f"  {job:<15} {_size(state['state_size']):>9} (peak {_size(state['peak_state_size'])}); "
              f"biggest: {top[0][:50]} {_size(top[1])}")
    disk = results["disk"]
    print("\n[disk]")
    print(f"  buckets: {_size(buckets['written_bytes'])} written in {buckets['files_seen']} files "
          f"({buckets['files_purged']} deleted by retention by the end); "
          "on disk at most "
          f"{_size(buckets['peak_bytes_on_disk'])} in {buckets['peak_files_on_disk']} files, "
          f"{_size(buckets['final_bytes_on_disk'])} at the end ({buckets['retention']})")
    for name in ("datasets", "models"):
        peak, final = disk["peak_bytes"].get(name, 0), disk["final_bytes"].get(name, 0)
        print(f"  {name}: peak {_size(peak)}, end {_size(final)}")
    print("\n[busiest operator chains while the backlog lasted, ms/s (median of the samples, max over "
          "subtasks): busy / back-pressured]")
    for vertex in results["operator_load"][:8]:
        busy, pressured = (float("nan") if v is None else v
                           for v in (vertex["busy_ms_per_s"], vertex["backpressured_ms_per_s"]))
        print(f"  {busy:>6.0f} / {pressured:>6.0f}  {vertex['job']}: {vertex['name']}")
    if results.get("failure"):
        print(f"\nFAILURE: {results['failure']}")
    for job, text in results.get("root_exceptions", {}).items():
        print(f"\nroot exception of {job}:\n{text}")
