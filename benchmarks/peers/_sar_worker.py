"""Fit Microsoft recommenders' SAR and score requested users; runs inside the SAR venv.

Only numpy, pandas, scipy, pyarrow and ``recommenders==1.2.1`` exist there: this module must not
import decayrec (the adapter, ``benchmarks/peers/sar.py``, runs it as
``python -I _sar_worker.py DIR``).

Exchange folder ``DIR`` (Parquet files and one JSON config):

``events.parquet`` (written by the adapter)
    ``user``, ``item`` (int64, the model's indices), ``rating`` (float64, decayrec's event-type
    weight) and ``seconds`` (float64, Unix seconds): the training events, any order.
``request.parquet`` (written by the adapter)
    ``user`` (int64) and ``at`` (float64 seconds), one row per requested score row. Every
    requested user has at least one event at or before its ``at``.
``config.json`` (written by the adapter)
    ``similarity`` (SAR's ``similarity_type``), ``time_decay_days`` (SAR's
    ``time_decay_coefficient``; ``null`` switches decay off) and ``n_items`` (catalogue size).
``scores.parquet`` (written here)
    one row per request row, in request order, with column ``scores``: a fixed-size list of
    ``n_items`` float64 scores (position = the model's item index; items SAR never saw score 0).

What is fitted, and how time is honoured:

* The fit sees every event at or before ``T = max(at)``. A requested row is a user of its own
  (id ``-(r + 1)``) holding only the requested user's events at or before that row's ``at``; the
  requested user's real rows are dropped. So nothing a requested user did after their ``at``
  reaches their affinity or the co-occurrence counts; other users' events up to ``T`` do reach
  the item similarity (identical to the cutoff when every ``at`` is the same).
* SAR decays to one ``time_now``; it is ``T``. With its exponential decay
  ``2^(-(T - t)/h)`` a row's affinity at ``T`` is ``2^(-(T - at)/h)`` times its affinity at
  ``at`` (all its events are at or before ``at``), so each row is multiplied back by
  ``2^((T - at)/h)``: the scores equal SAR's with ``time_now = at`` for that row (the same
  ranking either way). A row whose events are all more than ~1000 half-lives old underflows to 0.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from recommenders.models.sar import SAR

_DAY_SECONDS = 86_400.0


def _write_scores(path: Path, scores: np.ndarray) -> None:
    """``scores`` (rows x items) as one fixed-size-list column, uncompressed (dense floats)."""
    n_items = scores.shape[1]
    values = pa.array(np.ascontiguousarray(scores, dtype=np.float64).reshape(-1))
    column = pa.FixedSizeListArray.from_arrays(values, n_items)
    pq.write_table(pa.table({"scores": column}), path, compression="none")


def _training_frame(
    events: dict[str, np.ndarray], user: np.ndarray, at: np.ndarray
) -> pd.DataFrame:
    """Events up to ``max(at)``; requested rows become pseudo-users truncated at their ``at``."""
    horizon = float(at.max())
    frame = pd.DataFrame(
        {
            "user": events["user"].astype(np.int64),
            "item": events["item"].astype(np.int64),
            "rating": events["rating"].astype(np.float64),
            "timestamp": events["seconds"].astype(np.float64),
        }
    )
    requested = np.isin(frame["user"].to_numpy(), user)
    others = frame[~requested & (frame["timestamp"].to_numpy() <= horizon)]
    request = pd.DataFrame({"user": user, "at": at, "row": -(np.arange(len(user)) + 1)})
    own = frame[requested].merge(request, on="user")
    own = own[own["timestamp"].to_numpy() <= own["at"].to_numpy()]
    own = own.assign(user=own["row"]).drop(columns=["at", "row"])
    return pd.concat([others, own], ignore_index=True)


def run(folder: Path) -> None:
    """Read the exchange folder, fit SAR, write ``scores.parquet``."""
    config = json.loads((folder / "config.json").read_text())
    events_table = pq.read_table(folder / "events.parquet")
    events = {
        key: events_table.column(key).to_numpy() for key in ("user", "item", "rating", "seconds")
    }
    request = pq.read_table(folder / "request.parquet")
    user = request.column("user").to_numpy().astype(np.int64)
    at = request.column("at").to_numpy().astype(np.float64)
    n_items = int(config["n_items"])
    decay_days = config["time_decay_days"]
    out = np.zeros((len(user), n_items))
    if len(user) == 0:
        _write_scores(folder / "scores.parquet", out)
        return
    frame = _training_frame(events, user, at)
    # SAR rejects duplicate rows: sum the ratings of one user-item pair (at one instant when
    # decaying, SAR then sums the decayed ratings per pair itself; over all time otherwise).
    if decay_days is None:
        frame = frame.groupby(["user", "item"], as_index=False, sort=False).agg(
            rating=("rating", "sum"), timestamp=("timestamp", "max")
        )
    else:
        keys = ["user", "item", "timestamp"]
        frame = frame.groupby(keys, as_index=False, sort=False)["rating"].sum()
    horizon = float(at.max())
    model = SAR(
        col_user="user",
        col_item="item",
        col_rating="rating",
        col_timestamp="timestamp",
        similarity_type=config["similarity"],
        time_decay_coefficient=30 if decay_days is None else float(decay_days),
        time_now=horizon,
        timedecay_formula=decay_days is not None,
    )
    model.fit(frame)
    # Rows without any event by their ``at`` are unknown to SAR; they keep scores of 0.
    present = np.flatnonzero(np.isin(-(np.arange(len(user)) + 1), frame["user"].to_numpy()))
    test = pd.DataFrame({"user": -(present.astype(np.int64) + 1)})
    scores = np.asarray(model.score(test), dtype=np.float64)
    columns = np.array([model.index2item[k] for k in range(model.n_items)], dtype=np.int64)
    out[np.ix_(present, columns)] = scores
    if decay_days is not None:
        out *= np.power(2.0, (horizon - at) / (float(decay_days) * _DAY_SECONDS))[:, None]
    _write_scores(folder / "scores.parquet", out)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -I _sar_worker.py EXCHANGE_DIR", file=sys.stderr)
        return 2
    run(Path(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
