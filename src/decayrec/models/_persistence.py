"""The on-disk form of a model: ``manifest.json`` plus ``arrays.npz``, without pickle.

What: :func:`write_model` stores a model's whole training log (every column; strings as codes
plus a vocabulary, so no object array reaches ``.npz``), its learned arrays and a manifest
(format and decayrec versions, class, display name, parameters); :func:`read_manifest` and
:func:`read_events` read them back, checking the format version and naming what is damaged.

Why a module of its own: the file layout is a format with a version (:data:`FORMAT_VERSION`)
that outlives any one class; keeping its encoding and decoding side by side keeps the two in
step, while the base class only decides which class to build from the manifest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from decayrec import __version__
from decayrec.data.schema import EventLog, Vocabulary
from decayrec.errors import DataValidationError
from decayrec.types import IndexArray

__all__ = ["FORMAT_VERSION", "read_events", "read_manifest", "write_model"]

FORMAT_VERSION: Final = 1


def write_model(
    folder: Path,
    log: EventLog,
    state: Mapping[str, np.ndarray[Any, Any]],
    *,
    class_name: str,
    name: str,
    params: Mapping[str, Any],
) -> None:
    """Write ``arrays.npz`` (the log, its vocabularies, ``state``) and ``manifest.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray[Any, Any]] = {
        "events.user_index": log.user_index,
        "events.item_index": log.item_index,
        "events.category_index": log.category_index,
        "events.timestamp_us": log.frame["timestamp"].dt.epoch("us").to_numpy(),
        "events.event_type": log.event_type,
        "events.value": log.frame["value"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        "vocab.users": _strings(log.users.ids),
        "vocab.items": _strings(log.items.ids),
        "vocab.categories": _strings(log.categories.ids),
    }
    for column in ("session_id", "event_id"):
        codes, vocab = _encode_strings(log.frame[column])
        arrays[f"events.{column}"] = codes
        arrays[f"vocab.{column}"] = vocab
    for key, value in state.items():
        arrays[f"state.{key}"] = value
    manifest = {
        "format_version": FORMAT_VERSION,
        "decayrec_version": __version__,
        "class": class_name,
        "name": name,
        "params": params,
        "n_events": log.n_events,
    }
    np.savez_compressed(folder / "arrays.npz", allow_pickle=False, **arrays)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def read_manifest(folder: Path) -> tuple[dict[str, Any], Path]:
    """The manifest in ``folder`` and its path, after checking it exists and its version.

    Raises
    ------
    DataValidationError
        No ``manifest.json``, or a ``format_version`` other than :data:`FORMAT_VERSION`.
    """
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise DataValidationError(f"{folder}: no manifest.json; not a saved decayrec model.")
    manifest = json.loads(manifest_path.read_text())
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise DataValidationError(
            f"{manifest_path}: format_version is {version!r}; this decayrec reads {FORMAT_VERSION}."
        )
    return manifest, manifest_path


def read_events(folder: Path) -> tuple[EventLog, dict[str, np.ndarray[Any, Any]]]:
    """The training log written by :func:`write_model` and the learned arrays (``state.``).

    Raises
    ------
    DataValidationError
        An event array is missing from ``arrays.npz``.
    """
    with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    try:
        n = len(arrays["events.user_index"])
        frame = pl.DataFrame(
            {
                "user_index": arrays["events.user_index"].astype(np.int32),
                "item_index": arrays["events.item_index"].astype(np.int32),
                "category_index": arrays["events.category_index"].astype(np.int32),
                "timestamp": pl.Series(arrays["events.timestamp_us"].astype(np.int64))
                .cast(pl.Datetime("us"))
                .dt.replace_time_zone("UTC"),
                "event_type": arrays["events.event_type"].astype(np.uint8),
                "value": pl.Series(arrays["events.value"], dtype=pl.Float64, nan_to_null=True),
                "session_id": _decode_strings(
                    arrays["events.session_id"], arrays["vocab.session_id"], n
                ),
                "event_id": _decode_strings(arrays["events.event_id"], arrays["vocab.event_id"], n),
            }
        )
    except KeyError as missing:
        raise DataValidationError(
            f"{folder / 'arrays.npz'}: array {missing} is missing; the file is damaged."
        ) from None

    def vocab(key: str) -> Vocabulary:
        return Vocabulary(pl.Series("id", arrays[key].tolist(), dtype=pl.String))

    log = EventLog(frame, vocab("vocab.users"), vocab("vocab.items"), vocab("vocab.categories"))
    state = {k.removeprefix("state."): v for k, v in arrays.items() if k.startswith("state.")}
    return log, state


def _strings(series: pl.Series) -> npt.NDArray[np.str_]:
    values = series.to_list()
    return np.array(values, dtype=np.str_) if values else np.empty(0, dtype="<U1")


def _encode_strings(column: pl.Series) -> tuple[IndexArray, npt.NDArray[np.str_]]:
    """Codes (-1 for null) and the distinct strings, so no object array reaches ``.npz``."""
    text = column.cast(pl.String)
    distinct = text.drop_nulls().unique(maintain_order=True)
    table = pl.DataFrame({"v": distinct, "code": np.arange(len(distinct), dtype=np.int32)})
    codes = (
        pl.DataFrame({"v": text})
        .join(table, on="v", how="left", maintain_order="left")["code"]
        .fill_null(-1)
        .to_numpy()
        .astype(np.int32)
    )
    return codes, _strings(distinct)


def _decode_strings(codes: np.ndarray[Any, Any], vocab: np.ndarray[Any, Any], n: int) -> pl.Series:
    values = pl.Series(vocab.tolist(), dtype=pl.String)
    if not len(values):
        return pl.Series([None] * n, dtype=pl.String)
    codes_series = pl.Series(codes.astype(np.int64))
    out = values.gather(codes_series.clip(0, None))
    return out.zip_with(codes_series >= 0, pl.Series([None] * n, dtype=pl.String))
