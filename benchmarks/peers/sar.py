"""Microsoft recommenders' SAR, with its own time decay, as a decayrec peer (out of process).

Why out of process: ``recommenders==1.2.1`` needs ``numpy<2`` and decayrec's dependencies are
never weakened for a peer, so SAR runs in a virtual environment of its own (create it with
``sh benchmarks/peers/sar_env.sh``) and this adapter exchanges Parquet files with
``_sar_worker.py`` through a temporary folder. Point ``DECAYREC_SAR_PYTHON`` at the venv's
python when it is not the default ``.peers/sar-venv/bin/python`` (under the repository root).

What is and is not honest about time (SAR learns and scores at one ``time_now``):

* Every ``_score_known`` batch (the base class batches users by ascending ``at``) is one SAR
  fit on the training events at or before the batch's latest ``at``; nothing later is seen.
* Each requested user enters that fit truncated at their own ``at`` (their affinity *and* their
  contribution to co-occurrence), and the decay is exact per user: SAR's exponential decay to
  ``max(at)`` differs from decay to the user's ``at`` by one factor per user, which the worker
  divides out. Scores equal SAR's with ``time_now = at`` for that user.
* Not sliced per user: other users' events between a user's ``at`` and the batch's latest
  ``at`` count in the item similarity. With one ``at`` for everyone (the temporal protocol)
  this is exact; under leave-last-out the training log already holds only earlier events of
  each user, but the similarity is then batch-dependent (as decayrec's own ItemKNN similarity
  is not time-sliced either). A user requested twice in one call counts twice in co-occurrence.
* Ratings are decayrec's event-type weights (view 1 ... purchase 5), summed per user-item.
* Exclusions, the popularity fallback (decayed with the same half-life) and ties are decayrec's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import ClassVar, Final, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from decayrec.errors import DecayrecError, InvalidParameterError, MissingExtraError
from decayrec.models.base import NO_DECAY_SUFFIX, Recommender
from decayrec.models.results import Explanation
from decayrec.types import FloatArray, IndexArray, KernelName

__all__ = ["SARPeer", "SimilarityName", "is_available", "read_score_matrix", "sar_python"]

SimilarityName = Literal["jaccard", "lift", "cooccurrence"]
_SIMILARITIES: Final = ("jaccard", "lift", "cooccurrence")
_ROOT: Final = Path(__file__).resolve().parents[2]
_WORKER: Final = Path(__file__).resolve().with_name("_sar_worker.py")
_DEFAULT_PYTHON: Final = _ROOT / ".peers" / "sar-venv" / "bin" / "python"
_CREATE: Final = "sh benchmarks/peers/sar_env.sh"
_CHECK: Final = (
    "import importlib.metadata as m; from recommenders.models.sar import SAR; "
    "print(m.version('recommenders'))"
)


def sar_python() -> Path:
    """The SAR venv's python: ``$DECAYREC_SAR_PYTHON``, else ``.peers/sar-venv/bin/python``."""
    configured = os.environ.get("DECAYREC_SAR_PYTHON")
    return Path(configured) if configured else _DEFAULT_PYTHON


def is_available() -> tuple[bool, str]:
    """Whether the SAR venv works, and why not (with the command that creates it)."""
    python = sar_python()
    if not python.exists():
        return False, f"SAR venv missing: {python} does not exist; create it with `{_CREATE}`."
    try:
        done = subprocess.run(
            [str(python), "-I", "-c", _CHECK], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"SAR venv at {python} does not run ({exc}); recreate it with `{_CREATE}`."
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return False, (
            f"SAR venv at {python} cannot import recommenders.models.sar ({last}); "
            f"recreate it with `{_CREATE}`."
        )
    version = done.stdout.strip()
    if version != "1.2.1":
        return False, f"SAR venv at {python} has recommenders {version}, not 1.2.1."
    return True, f"recommenders {version} at {python}"


def read_score_matrix(path: Path, n_items: int) -> FloatArray:
    """The worker's ``scores`` column (one fixed-size list of ``n_items`` per request row)."""
    column = pq.read_table(path, columns=["scores"]).column("scores").combine_chunks()
    # A copy: Arrow buffers are read-only and the caller masks scores in place.
    flat = np.array(column.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
    if len(column) * n_items != len(flat):
        raise DecayrecError(
            f"SAR worker wrote {len(flat)} scores for {len(column)} rows, not {n_items} per row."
        )
    return flat.reshape(len(column), n_items)


class SARPeer(Recommender):
    """SAR (Smart Adaptive Recommendations) from Microsoft recommenders 1.2.1, time-decayed.

    Parameters
    ----------
    similarity
        SAR's ``similarity_type``: ``jaccard``, ``lift`` or ``cooccurrence``.
    half_life
        SAR's ``time_decay_coefficient`` (the half-life of its exponential decay), named as in
        decayrec so the runner tunes it on the same grid; ``None`` switches decay off
        (``timedecay_formula=False``, the ``-no-decay`` variant). The popularity fallback
        decays with the same half-life.
    event_weights
        ``{event type: weight}`` overrides of decayrec's weights, used as SAR's ratings.

    Notes
    -----
    Stability: experimental (a benchmark peer). See the module docstring for what ``at``
    means here. Each scoring batch starts a subprocess and refits SAR (seconds, not
    milliseconds). ``explain`` reports SAR's score only (no per-event breakdown).
    """

    name: ClassVar[str] = "sar"
    #: SAR's decay is exponential; not a parameter here.
    kernel: KernelName = "exponential"

    def __init__(
        self,
        *,
        similarity: SimilarityName = "jaccard",
        half_life: timedelta | None = timedelta(days=30),
        event_weights: Mapping[str, float] | None = None,
    ) -> None:
        self.similarity = similarity
        self.half_life = half_life
        self.event_weights = (
            dict(event_weights) if isinstance(event_weights, Mapping) else event_weights
        )

    @property
    def time_decay_days(self) -> float | None:
        """SAR's ``time_decay_coefficient``: the half-life in days (``None``: no decay)."""
        return None if self.half_life is None else self.half_life.total_seconds() / 86_400.0

    @property
    def display_name(self) -> str:
        return self.name + (NO_DECAY_SUFFIX if self.time_decay_days is None else "")

    def _validate_params(self) -> None:
        owner = type(self).__name__
        if self.similarity not in _SIMILARITIES:
            raise InvalidParameterError(
                f"The 'similarity' parameter of {owner} must be one of "
                f"{', '.join(_SIMILARITIES)}. Got {self.similarity!r} instead."
            )
        half_life = self.half_life
        if half_life is not None and (
            not isinstance(half_life, timedelta) or half_life <= timedelta(0)
        ):
            raise InvalidParameterError(
                f"The 'half_life' parameter of {owner} must be a positive timedelta or None "
                f"(no decay). Got {half_life!r} instead."
            )
        super()._validate_params()

    def _fit_state(self) -> None:
        # SAR is fitted per scoring batch (it scores at one instant); events_ is the state.
        return None

    def _score_known(self, user_index: IndexArray, at: FloatArray) -> FloatArray:
        columns = self.columns_
        config = {
            "similarity": self.similarity,
            "time_decay_days": self.time_decay_days,
            "n_items": self.n_items,
        }
        with tempfile.TemporaryDirectory(prefix="decayrec-sar-") as tmp:
            folder = Path(tmp)
            events = {
                "user": columns.user.astype(np.int64),
                "item": columns.item.astype(np.int64),
                "rating": columns.type_weight.astype(np.float64),
                "seconds": columns.seconds.astype(np.float64),
            }
            pq.write_table(pa.table(events), folder / "events.parquet")
            request = {
                "user": np.asarray(user_index, dtype=np.int64),
                "at": np.asarray(at, dtype=np.float64),
            }
            pq.write_table(pa.table(request), folder / "request.parquet")
            (folder / "config.json").write_text(json.dumps(config))
            self._run_worker(folder)
            scores = read_score_matrix(folder / "scores.parquet", self.n_items)
        expected = (len(user_index), self.n_items)
        if scores.shape != expected:
            raise DecayrecError(f"SAR worker wrote scores of shape {scores.shape}, not {expected}.")
        return np.asarray(scores, dtype=np.float64)

    def _run_worker(self, folder: Path) -> None:
        python = sar_python()
        if not python.exists():
            raise MissingExtraError(
                f"The SAR peer needs its own venv: {python} does not exist; create it with "
                f"`{_CREATE}` (or set DECAYREC_SAR_PYTHON)."
            )
        done = subprocess.run(
            [str(python), "-I", str(_WORKER), str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-15:])
            raise DecayrecError(
                f"SAR worker ({python}) failed with exit {done.returncode}:\n{tail}"
            )

    def _explain_known(self, user: int, item: int, at: float) -> Explanation:
        score = float(self._score_known(np.array([user], dtype=np.int32), np.array([at]))[0, item])
        return self._item_explanation(
            self.events_.users.raw([user])[0],
            item,
            at,
            score=score,
            half_life=self.half_life,
            components={"sar": score},
        )


if __name__ == "__main__":  # pragma: no cover - a quick check from the command line
    ok, why = is_available()
    print(why)
    sys.exit(0 if ok else 1)
