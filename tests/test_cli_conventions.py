"""One command-line style for the whole project, help on every option, and console commands that work.

Every option's main spelling is ``--lower-kebab-case``; the camelCase spellings of the Wayeb command line
stay accepted as aliases of the kebab-case names (and parse to the same namespace), so documented commands
keep working. Every console command declared in ``pyproject.toml`` is installed, imports and answers
``--help`` with exit status 0.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import pytest

from tests.repo_data import REPO_ROOT

# Every parser of the project, by the module that builds it (``build_parser()``).
MODULE_CLIS = (
    "wayeb_py.cli",
    "rtcef_eval.cli",
    "rtcef_ops.__main__",
    "rtcef_ops.demo",
    "rtcef_ops.watch",
    "mocks.data_feeder",
    "mocks.mock_instruction_producer",
    "mocks.synthetic",
    "mocks.synthetic_cards",
    "inference_job.bootstrap",
    "shared_volume.registry",
)
BENCHMARK_CLIS = ("bench_inference", "bench_learning", "bench_runtime", "bench_scale", "bench_wayeb")

# The only option strings that are not kebab-case: the Wayeb spellings, kept as aliases.
LEGACY_ALIASES = {
    "wayeb_py.cli learn": {
        "--outputSpst", "--pMin", "--gammaMin", "--maxSpread", "--wtMode", "--finalsEnabled",
        "--no-finalsEnabled", "--datasetId",
    },
    "wayeb_py.cli evaluate": {"--maxSpread"},
}  # fmt: skip

KEBAB = re.compile(r"--[a-z0-9]+(-[a-z0-9]+)*")
SHORT = re.compile(r"-[A-Za-z]")


def _load_benchmark(name: str) -> ModuleType:
    """A benchmark script as a module (benchmarks are scripts, not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _parser_builders() -> dict[str, Callable[[], argparse.ArgumentParser]]:
    builders = {name: importlib.import_module(name).build_parser for name in MODULE_CLIS}
    builders.update({f"benchmarks/{name}": _load_benchmark(name).build_parser for name in BENCHMARK_CLIS})
    return builders


def _walk(parser: argparse.ArgumentParser, where: str) -> Iterator[tuple[str, argparse.Action]]:
    """Every action of ``parser`` and of its subcommands, with the command path it belongs to."""
    for action in parser._actions:
        yield where, action
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{where} {name}")


def _all_actions() -> list[tuple[str, argparse.Action]]:
    return [item for name, build in _parser_builders().items() for item in _walk(build(), name)]


def test_every_file_with_options_is_checked_here() -> None:
    """A new command line cannot escape these conventions: each file that adds options is listed above."""
    listed = {f"{name.replace('.', '/')}.py" for name in MODULE_CLIS}
    listed |= {f"benchmarks/{name}.py" for name in BENCHMARK_CLIS}
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    found = {
        name
        for name in files
        if not name.startswith("tests/")
        and (REPO_ROOT / name).is_file()
        and "add_argument" in (REPO_ROOT / name).read_text(encoding="utf-8")
    }
    assert found == listed


def test_every_option_positional_and_subcommand_has_help() -> None:
    missing = []
    for where, action in _all_actions():
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            missing += [f"{where} {name}" for name in action.choices if not (helps.get(name) or "").strip()]
        elif action.help != argparse.SUPPRESS and not (action.help or "").strip():
            missing.append(f"{where} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_every_option_is_spelled_lower_kebab_case_first() -> None:
    """The first long spelling is kebab-case; other spellings are kebab-case or a recorded legacy alias."""
    wrong_main: list[str] = []
    unexpected: dict[str, set[str]] = {}
    for where, action in _all_actions():
        longs = [s for s in action.option_strings if s.startswith("--")]
        shorts = [s for s in action.option_strings if not s.startswith("--")]
        if longs and not KEBAB.fullmatch(longs[0]):
            wrong_main.append(f"{where} {longs[0]}")
        wrong_main += [f"{where} {s}" for s in shorts if not SHORT.fullmatch(s)]
        odd = {s for s in longs if not KEBAB.fullmatch(s)}
        if odd:
            unexpected.setdefault(where, set()).update(odd)
    assert wrong_main == []
    assert unexpected == LEGACY_ALIASES


def _parse(argv: list[str]) -> dict[str, object]:
    from wayeb_py.cli import build_parser

    return vars(build_parser().parse_args(argv))


LEARN_BASE = ["learn", "--patterns", "p.sre", "--stream", "s.csv", "--domain", "maritime", "--out", "m.spst"]


@pytest.mark.parametrize(
    ("kebab", "legacy", "expected"),
    [
        (["--out", "x.spst"], ["--outputSpst", "x.spst"], {"outputSpst": "x.spst"}),
        (["--p-min", "0.01"], ["--pMin", "0.01"], {"pMin": 0.01}),
        (["--p-min", "0.02"], ["--pmin", "0.02"], {"pMin": 0.02}),
        (["--gamma", "0.002"], ["--gammaMin", "0.002"], {"gamma": 0.002}),
        (["--max-spread", "7"], ["--maxSpread", "7"], {"maxSpread": 7}),
        (["--wt-mode", "merged"], ["--wtMode", "merged"], {"wtMode": "merged"}),
        (["--no-finals-enabled"], ["--no-finalsEnabled"], {"finalsEnabled": False}),
        (["--finals-enabled"], ["--finalsEnabled"], {"finalsEnabled": True}),
        (["--dataset-id", "v3"], ["--datasetId", "v3"], {"datasetId": "v3"}),
    ],
)
def test_learn_aliases_parse_like_the_kebab_spelling(
    kebab: list[str], legacy: list[str], expected: dict[str, object]
) -> None:
    parsed = _parse([*LEARN_BASE, *kebab])
    assert parsed == _parse([*LEARN_BASE, *legacy])
    assert {key: parsed[key] for key in expected} == expected


@pytest.mark.parametrize("command", ["evaluate", "forecast"])
def test_model_alias_of_spst(command: str) -> None:
    stream = ["--stream", "s.csv", "--domain", "maritime"]
    parsed = _parse([command, "--spst", "m.spst", *stream])
    assert parsed == _parse([command, "--model", "m.spst", *stream])
    assert parsed["spst"] == "m.spst"


def test_evaluate_max_spread_alias() -> None:
    base = ["evaluate", "--spst", "m.spst", "--stream", "s.csv", "--domain", "maritime"]
    parsed = _parse([*base, "--max-spread", "9"])
    assert parsed == _parse([*base, "--maxSpread", "9"])
    assert parsed["max_spread"] == 9


def _declared_scripts() -> dict[str, str]:
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        scripts: dict[str, str] = tomllib.load(handle)["project"]["scripts"]
    return scripts


def test_console_commands_are_declared_and_installed() -> None:
    declared = _declared_scripts()
    assert {"wayeb-py", "rtcef", "rtcef-eval", "rtcef-feed", "rtcef-instruct", "rtcef-synthetic",
            "rtcef-bootstrap"} <= set(declared)  # fmt: skip
    installed = {ep.name: ep.value for ep in entry_points(group="console_scripts") if ep.name in declared}
    assert installed == declared, "reinstall the project: pip install -e '.[dev]'"
    scripts_dir = Path(sysconfig.get_path("scripts"))
    assert [name for name in declared if not (scripts_dir / name).is_file()] == []


@pytest.mark.parametrize("name", sorted(_declared_scripts()))
def test_console_command_help_exits_zero(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    (entry,) = entry_points(group="console_scripts", name=name)
    main = entry.load()
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {name} ")


def test_installed_script_runs() -> None:
    """The generated script itself, as a user types it."""
    script = Path(sysconfig.get_path("scripts")) / "wayeb-py"
    done = subprocess.run([str(script), "learn", "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: wayeb-py learn ") and "--outputSpst" in done.stdout
