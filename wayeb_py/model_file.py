"""The ``.spst`` model file: a versioned, checksummed, pickle-free serialisation of an `SPSTModel`.

Layout (UTF-8)::

    WAYEB-PY-SPST <format_version> sha256=<64 hex digits>\\n
    <one JSON object>

The header's checksum covers the JSON bytes exactly, so truncated or edited files are detected. The JSON
object holds:

* ``format`` (``"wayeb_py.spst"``), ``format_version`` (int), ``model_key`` (fingerprint, checked on load);
* ``pattern``: ``pattern_text``, ``declarations_text``, ``order``, ``partition_by``, ``window``, ``sdfa``
  (``SDFA.to_dict()``) and ``symbolizer`` (``Symbolizer.to_dict()``);
* ``pst``: ``max_order``, ``n_symbols``, ``labels`` (lists of 0-based symbols, most recent first, canonical
order)
  and ``probs`` (one smoothed distribution per label);
* ``learn_params``: ``order, p_min, alpha, gamma, r``; ``forecast_params``: see `ForecastParams.to_dict`;
* ``provenance``: free-form training facts (``rows``, ``time_range``, ``dataset_id``, ``created_at``, ...).

Waiting-time distributions and the forecast table are *not* stored: they are recomputed on load from the
stored parameters (cheap for NEXTK). Files are written atomically (temp file in the target directory, fsync,
``os.replace``). Reading a file that is not a model, is corrupt, or has a newer format version raises
`ModelFileError`. See also ``docs/spst-format.md``.

Reading is bounded, because a model path may come from another process: the file is opened without
blocking (a FIFO does not hang the reader), must be a regular file (not a device such as ``/dev/zero``) of
at most ``max_bytes`` bytes, and its JSON may nest at most ``max_depth`` levels (checked before parsing, so
a hostile file cannot exhaust the parser's recursion). Every such refusal is a `ModelFileError`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from .forecasting import ForecastParams
from .pst import LearnParams, PredictionSuffixTree

__all__ = [
    "DEFAULT_MAX_BYTES",
    "CONTENT_ERRORS",
    "DEFAULT_MAX_DEPTH",
    "FORMAT_VERSION",
    "MAGIC",
    "ModelFileError",
    "ModelParts",
    "decode_parts",
    "encode_model",
    "read_document",
    "read_document_bytes",
    "write_model",
]

MAGIC = "WAYEB-PY-SPST"
FORMAT_NAME = "wayeb_py.spst"
FORMAT_VERSION = 1
DEFAULT_MAX_BYTES = 256 << 20
"""Largest model file :func:`read_document` accepts by default."""
DEFAULT_MAX_DEPTH = 64
"""Deepest JSON nesting accepted by default; files written by `write_model` nest about ten levels."""

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")

PatternDecoder = Callable[[dict[str, Any]], Any]

CONTENT_ERRORS: tuple[type[BaseException], ...] = (
    KeyError, TypeError, ValueError, IndexError, ImportError, AttributeError, ArithmeticError, RecursionError,
    MemoryError,
)  # fmt: skip
"""What decoding a model document, or building the model from its parts, raises on bad content: reported as
a `ModelFileError` (by `decode_parts` here and by ``SPSTModel.from_document``)."""


class ModelFileError(ValueError):
    """A model file cannot be read: not a model file, corrupt, or written by a newer format version."""


def _learn_params_dict(p: LearnParams) -> dict[str, Any]:
    return {"order": p.order, "p_min": p.p_min, "alpha": p.alpha, "gamma": p.gamma, "r": p.r}


def encode_pattern(pattern: Any) -> dict[str, Any]:
    """The JSON form of a compiled pattern (texts, annotations, SDFA and symbolizer)."""
    sdfa = pattern.sdfa
    sym = pattern.symbolizer
    return {
        "pattern_text": getattr(pattern, "pattern_text", ""),
        "declarations_text": getattr(pattern, "declarations_text", ""),
        "order": getattr(pattern, "order", None),
        "partition_by": getattr(pattern, "partition_by", None),
        "window": getattr(pattern, "window", None),
        "sdfa": sdfa.to_dict(),
        "symbolizer": sym.to_dict() if hasattr(sym, "to_dict") else None,
    }


def decode_pattern(d: dict[str, Any]) -> Any:
    """Rebuild a ``CompiledPattern`` from `encode_pattern` output using the pattern package.

    The stored SDFA and symbolizer are used as-is (so a model keeps working if the compiler changes later).
    When the symbolizer cannot be restored from its dict, the pattern is recompiled from its text and must
    produce the stored SDFA.
    """
    from .automata.sdfa import SDFA
    from .patterns import CompiledPattern, compile_pattern

    sdfa = SDFA.from_dict(d["sdfa"])
    try:
        from .symbolize import Symbolizer

        symbolizer = Symbolizer.from_dict(d["symbolizer"])
    except Exception:  # noqa: BLE001  (fall back to recompiling; the SDFA check below guards the result)
        compiled = compile_pattern(d["pattern_text"], d.get("declarations_text") or "")
        if compiled.sdfa != sdfa:
            raise ModelFileError("stored SDFA differs from the recompiled pattern") from None
        return compiled
    return CompiledPattern(
        pattern_text=d["pattern_text"],
        declarations_text=d.get("declarations_text") or "",
        sdfa=sdfa,
        symbolizer=symbolizer,
        order=d.get("order"),
        partition_by=d.get("partition_by"),
        window=d.get("window"),
    )


def encode_model(model: Any) -> dict[str, Any]:
    """The JSON object stored in a ``.spst`` file."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_key": model.key,
        "pattern": encode_pattern(model.pattern),
        "pst": model.pst.to_dict(),
        "learn_params": _learn_params_dict(model.learn_params),
        "forecast_params": model.forecast_params.to_dict(),
        "provenance": model.provenance,
    }


class ModelParts(NamedTuple):
    """What a model file holds: the arguments of ``SPSTModel`` plus the stored fingerprint."""

    pattern: Any
    pst: PredictionSuffixTree
    learn_params: LearnParams
    forecast_params: ForecastParams
    provenance: dict[str, Any]
    model_key: Any


def decode_parts(doc: dict[str, Any], *, pattern_decoder: PatternDecoder | None = None) -> ModelParts:
    """The parts of a model from `encode_model` output (raises ModelFileError on bad content).

    ``SPSTModel.from_document`` builds the model from them and checks the fingerprint; this module does not
    import the engine, so that the engine can import it.
    """
    if doc.get("format") != FORMAT_NAME:
        raise ModelFileError(f"not a {FORMAT_NAME} document (format={doc.get('format')!r})")
    version = doc.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"model format version {version} is newer than supported ({FORMAT_VERSION}); upgrade wayeb_py"
        )
    try:
        pattern = (pattern_decoder or decode_pattern)(doc["pattern"])
        pst = PredictionSuffixTree.from_dict(doc["pst"])
        lp = doc["learn_params"]
        learn = LearnParams(
            int(lp["order"]), float(lp["p_min"]), float(lp["alpha"]), float(lp["gamma"]), float(lp["r"])
        )
        fparams = ForecastParams.from_dict(doc["forecast_params"])
    except ModelFileError:
        raise
    except CONTENT_ERRORS as exc:
        raise ModelFileError(f"invalid model content: {type(exc).__name__}: {exc}") from exc
    return ModelParts(pattern, pst, learn, fparams, doc.get("provenance") or {}, doc.get("model_key"))


def write_model(model: Any, path: str | Path) -> Path:
    """Serialise ``model`` to ``path`` atomically; returns the path."""
    target = Path(path)
    body = json.dumps(encode_model(model), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    header = f"{MAGIC} {FORMAT_VERSION} sha256={hashlib.sha256(body).hexdigest()}\n".encode()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(header)
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return target


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself (best effort: not every platform allows opening directories)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_bounded(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes`` bytes (never blocks)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ModelFileError(f"{path} is not a regular file")
        if info.st_size > max_bytes:
            raise ModelFileError(f"{path} has {info.st_size} bytes, more than the limit of {max_bytes}")
        with os.fdopen(os.dup(fd), "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if len(raw) > max_bytes:
        raise ModelFileError(f"{path} grew past the limit of {max_bytes} bytes while being read")
    return raw


def _json_depth(body: bytes) -> int:
    """Deepest nesting of arrays and objects in a JSON text, counted without parsing it.

    Strings are blanked first so that brackets inside them do not count; unbalanced input gives a
    meaningless but finite answer (the parser rejects it afterwards).
    """
    brackets = _JSON_STRING.sub(b'""', body).translate(None, _NOT_BRACKETS)
    steps = (1 if b in b"[{" else -1 for b in brackets)
    return max(itertools.accumulate(steps, initial=0))


def read_document_bytes(
    raw: bytes, *, source: str = "<bytes>", max_depth: int = DEFAULT_MAX_DEPTH
) -> dict[str, Any]:
    """The JSON document of a ``.spst`` file's content that the caller has read, after the header,
    checksum and nesting checks (``source`` names it in errors)."""
    newline = raw.find(b"\n")
    head = raw[:newline].decode("ascii", errors="replace") if newline >= 0 else ""
    parts = head.split(" ")
    if newline < 0 or len(parts) != 3 or parts[0] != MAGIC or not parts[2].startswith("sha256="):
        raise ModelFileError(f"{source} is not a wayeb_py .spst model file (bad header)")
    try:
        version = int(parts[1])
    except ValueError:
        raise ModelFileError(f"{source}: bad format version {parts[1]!r}") from None
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{source} has model format version {version}, newer than supported ({FORMAT_VERSION}); "
            "upgrade wayeb_py"
        )
    body = raw[newline + 1 :]
    if hashlib.sha256(body).hexdigest() != parts[2][len("sha256=") :]:
        raise ModelFileError(f"{source} is corrupt (checksum mismatch; truncated or modified)")
    depth = _json_depth(body)
    if depth > max_depth:
        raise ModelFileError(f"{source}: JSON nests {depth} levels, more than the limit of {max_depth}")
    try:
        doc = json.loads(body)
    except (RecursionError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ModelFileError(f"{source} is corrupt (invalid JSON: {exc})") from exc
    if not isinstance(doc, dict):
        raise ModelFileError(f"{source} is corrupt (JSON body is not an object)")
    return doc


def read_document(
    path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> dict[str, Any]:
    """The JSON document of a ``.spst`` file written by `write_model`, read within the given limits
    (``SPSTModel.load`` builds the model from it)."""
    p = Path(path)
    return read_document_bytes(_read_bounded(p, max_bytes), source=str(p), max_depth=max_depth)
