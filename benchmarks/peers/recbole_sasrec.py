"""RecBole's SASRec (self-attentive sequential recommendation) as a decayrec peer, out of process.

Why out of process: RecBole 1.2.1 needs numpy<2 (and torch), and decayrec's dependencies are
never weakened for a peer, so SASRec runs in a virtual environment of its own (create it with
``sh benchmarks/peers/recbole_env.sh``) and this adapter exchanges Parquet files with
``_recbole_worker.py`` through a folder the instance owns. Point ``DECAYREC_RECBOLE_PYTHON`` at
the venv's python when it is not the default ``.peers/recbole-venv/bin/python`` (under the
repository root).

How it runs:

* ``fit`` writes the training events (the model's user and item indices, seconds) and the
  hyper-parameters, and runs the worker's ``train`` once: RecBole's own pipeline (atomic
  ``.inter`` file, sequential data augmentation, ``Trainer``) with full-softmax cross-entropy
  for a fixed number of ``epochs`` on the CPU, seeded (``random_state``), with 2 torch threads.
  No RecBole-internal validation: the runner tunes the grid on its own validation split.
* Scoring starts one warm worker (``serve``) on first use and sends it each batch: the worker
  keeps the rebuilt SASRec module and the training sequences in memory, so a batch costs the
  forward pass and the Parquet round trip, not a python, torch and RecBole start (~1.6 s).
  The worker and the folder go away with the instance (``weakref.finalize``), or on refit.

What is and is not honest about time:

* A user's sequence is their training events at or before their ``at`` (the last
  ``max_seq_length`` of them, in time order, ties in the training log's order): nothing a user
  did after ``at`` reaches their own scores.
* The weights are learned from the whole training log, like the implicit peers' factors; they
  are not time-sliced per ``at``. Exclusions and the popularity fallback (users without an
  event by their ``at``) are decayrec's, as for every peer.

Measured on Amazon Beauty (5-core: 22,363 users, 12,101 items, 198,502 events; 176,139
training sequences) on the 2-core benchmark machine, 2 torch threads: building RecBole's data
set takes ~2.5 s; one epoch with ``batch_size=1024`` and ``max_seq_length=10`` takes ~55 s at
``embedding_size=64`` and ~25 s at 32 (~135 s at length 20; ~360 s at RecBole's default length
50, where the dropout and attention over mostly padding dominate). A scoring batch (~700 users
x 12,101 items, the base class's batch) costs 0.45-0.7 s in the warm worker (Parquet both
ways, one forward pass per row), plus ~2 s once to start the worker. :data:`SASREC_GRID` in
``registry.py`` keeps one fit under ~3 minutes.

Reference: Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018; RecBole
(Zhao et al., CIKM 2021), ``recbole.model.sequential_recommender.SASRec``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, ClassVar, Final

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from decayrec.errors import DecayrecError, InvalidParameterError, MissingExtraError
from decayrec.models.base import Recommender
from decayrec.models.results import Explanation
from decayrec.types import FloatArray, IndexArray, KernelName

__all__ = ["SASRecPeer", "is_available", "recbole_python"]

_ROOT: Final = Path(__file__).resolve().parents[2]
_WORKER: Final = Path(__file__).resolve().with_name("_recbole_worker.py")
_DEFAULT_PYTHON: Final = _ROOT / ".peers" / "recbole-venv" / "bin" / "python"
_CREATE: Final = "sh benchmarks/peers/recbole_env.sh"
_VERSION: Final = "1.2.1"
_CHECK: Final = (
    "import importlib.metadata as m, pyarrow.parquet; "
    "from recbole.config import Config; from recbole.trainer import Trainer; "
    "from recbole.model.sequential_recommender.sasrec import SASRec; "
    "print(m.version('recbole'))"
)
#: torch threads in the worker: the benchmark machine's 2 cores. Fixed (not a parameter), so
#: that a ``random_state`` gives the same weights on every run.
_TORCH_THREADS: Final = 2
#: RecBole 1.2.1 predates torch's ``weights_only=True`` default of ``torch.load``.
_WORKER_ENV: Final = {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}


def recbole_python() -> Path:
    """The RecBole venv's python: ``$DECAYREC_RECBOLE_PYTHON``, else ``.peers/recbole-venv``."""
    configured = os.environ.get("DECAYREC_RECBOLE_PYTHON")
    return Path(configured) if configured else _DEFAULT_PYTHON


def is_available() -> tuple[bool, str]:
    """Whether the RecBole venv works, and why not (with the command that creates it)."""
    python = recbole_python()
    if not python.exists():
        return False, f"RecBole venv missing: {python} does not exist; create it with `{_CREATE}`."
    try:
        done = subprocess.run(
            [str(python), "-I", "-c", _CHECK],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **_WORKER_ENV},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, (
            f"RecBole venv at {python} does not run ({exc}); recreate it with `{_CREATE}`."
        )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return False, (
            f"RecBole venv at {python} cannot import RecBole's SASRec pipeline ({last}); "
            f"recreate it with `{_CREATE}`."
        )
    version = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "unknown"
    if version != _VERSION:
        return False, f"RecBole venv at {python} has recbole {version}, not {_VERSION}."
    return True, f"recbole {version} at {python}"


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:]) or "(empty log)"


def _pipe(stream: IO[str] | None) -> IO[str]:
    """A pipe of the scoring worker (always set: it is started with ``PIPE``)."""
    if stream is None:
        raise DecayrecError("RecBole scoring worker has no pipe to talk through.")
    return stream


class _Session:
    """The exchange folder of one fitted model and its warm scoring worker.

    Kept apart from the model so that ``weakref.finalize`` can close it without holding the
    model alive.
    """

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="decayrec-recbole-"))
        self.process: subprocess.Popen[str] | None = None
        self.log: IO[str] | None = None

    def stop(self) -> None:
        """End the scoring worker (it exits at end of input), if one runs."""
        process, self.process = self.process, None
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self.log is not None:
            self.log.close()
            self.log = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def train(self, python: Path) -> None:
        log_path = self.folder / "train.log"
        with log_path.open("w") as log:
            done = subprocess.run(
                [str(python), "-I", str(_WORKER), "train", str(self.folder)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                env={**os.environ, **_WORKER_ENV},
                check=False,
            )
        if done.returncode != 0:
            raise DecayrecError(
                f"RecBole worker ({python}) failed to train with exit {done.returncode}:\n"
                f"{_log_tail(log_path)}"
            )

    def _start(self, python: Path) -> subprocess.Popen[str]:
        log_path = self.folder / "serve.log"
        self.log = log_path.open("a")
        process = subprocess.Popen(
            [str(python), "-I", str(_WORKER), "serve", str(self.folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=self.folder,
            env={**os.environ, **_WORKER_ENV},
            text=True,
            bufsize=1,
        )
        self.process = process
        self._expect(process, "ready")
        return process

    def _expect(self, process: subprocess.Popen[str], wanted: str) -> None:
        reply = _pipe(process.stdout).readline().strip()
        if reply == wanted:
            return
        if not reply:  # the worker died
            self.stop()
            log = _log_tail(self.folder / "serve.log")
            raise DecayrecError(f"RecBole scoring worker ended unexpectedly:\n{log}")
        raise DecayrecError(f"RecBole scoring worker: {reply}")

    def score(self, python: Path, user: IndexArray, at: FloatArray, n_items: int) -> FloatArray:
        """``(len(user), n_items)`` SASRec scores from the warm worker."""
        process = self.process if self.process is not None else self._start(python)
        request = self.folder / "request"
        request.mkdir(exist_ok=True)
        target = request / "scores.parquet"
        target.unlink(missing_ok=True)
        table = pa.table(
            {
                "user": np.asarray(user, dtype=np.int64),
                "at": np.asarray(at, dtype=np.float64),
            }
        )
        pq.write_table(table, request / "requests.parquet")
        try:
            stdin = _pipe(process.stdin)
            stdin.write(f"{request}\n")
            stdin.flush()
        except BrokenPipeError:
            pass  # the worker died; _expect reports its log
        self._expect(process, "ok")
        column = pq.read_table(target, columns=["scores"]).column("scores").combine_chunks()
        values = np.asarray(column.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
        if values.size != len(user) * n_items:
            raise DecayrecError(
                f"RecBole worker wrote {values.size} scores, not {len(user)} x {n_items}."
            )
        return values.reshape(len(user), n_items)


class SASRecPeer(Recommender):
    """RecBole 1.2.1's SASRec, trained with full-softmax cross-entropy (a decayrec peer).

    Parameters
    ----------
    embedding_size
        RecBole's ``hidden_size`` (item embeddings and the transformer width); divisible by
        ``n_heads``. The feed-forward layer is 4 times as wide (RecBole's default ratio).
    n_layers, n_heads
        Transformer blocks and attention heads.
    dropout
        RecBole's ``hidden_dropout_prob`` and ``attn_dropout_prob``, in [0, 1).
    max_seq_length
        RecBole's ``MAX_ITEM_LIST_LENGTH``: how many of a user's latest events the model reads.
    learning_rate, epochs, batch_size
        Adam's step size, the (fixed) number of training epochs and RecBole's
        ``train_batch_size``.
    random_state
        RecBole's ``seed`` (weights, dropout and the data loader's shuffling).
    kernel, half_life, event_weights
        decayrec's common parameters; SASRec does not decay (``half_life`` must be ``None``)
        and reads only which item followed which, so event types and their weights do not
        enter its scores. The popularity fallback does not decay either.

    Attributes
    ----------
    train_report_ : dict
        From the worker: seconds to build RecBole's data set and to train, the number of
        training sequences and the loss of every epoch.

    Notes
    -----
    Stability: experimental (a benchmark peer). ``partial_fit`` retrains on all events (an
    iterative fit is not exactly incremental). ``explain`` reports SASRec's score only (no
    per-event breakdown). ``save`` stores the trained weights, so ``load`` does not retrain.
    """

    name: ClassVar[str] = "recbole-sasrec"
    #: Positive integer parameters, each checked in :meth:`_validate_params`.
    _positive_ints: ClassVar[tuple[str, ...]] = (
        "embedding_size",
        "n_layers",
        "n_heads",
        "max_seq_length",
        "epochs",
        "batch_size",
    )

    def __init__(
        self,
        *,
        kernel: KernelName = "exponential",
        half_life: timedelta | None = None,
        event_weights: Mapping[str, float] | None = None,
        embedding_size: int = 64,
        n_layers: int = 2,
        n_heads: int = 2,
        dropout: float = 0.5,
        max_seq_length: int = 10,
        learning_rate: float = 0.001,
        epochs: int = 3,
        batch_size: int = 1024,
        random_state: int = 0,
    ) -> None:
        super().__init__(kernel=kernel, half_life=half_life, event_weights=event_weights)
        self.embedding_size = embedding_size
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.dropout = dropout
        self.max_seq_length = max_seq_length
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state

    @property
    def display_name(self) -> str:
        """:attr:`name` (this peer never decays)."""
        return self.name

    def _validate_params(self) -> None:
        super()._validate_params()
        owner = type(self).__name__
        if self.half_life is not None:
            raise InvalidParameterError(
                f"The 'half_life' parameter of {owner} must be None (this peer does not "
                f"decay). Got {self.half_life!r} instead."
            )
        for key in self._positive_ints:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameterError(
                    f"The '{key}' parameter of {owner} must be a positive integer. "
                    f"Got {value!r} instead."
                )
        if self.embedding_size % self.n_heads:
            raise InvalidParameterError(
                f"The 'embedding_size' parameter of {owner} must be a multiple of 'n_heads' "
                f"({self.n_heads}). Got {self.embedding_size!r} instead."
            )
        dropout = self.dropout
        if isinstance(dropout, bool) or not isinstance(dropout, int | float):
            dropout = float("nan")
        if not 0.0 <= dropout < 1.0:
            raise InvalidParameterError(
                f"The 'dropout' parameter of {owner} must be a number in [0, 1). "
                f"Got {self.dropout!r} instead."
            )
        rate = self.learning_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
            raise InvalidParameterError(
                f"The 'learning_rate' parameter of {owner} must be a positive number. "
                f"Got {rate!r} instead."
            )
        seed = self.random_state
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InvalidParameterError(
                f"The 'random_state' parameter of {owner} must be an integer >= 0. "
                f"Got {seed!r} instead."
            )

    # ------------------------------------------------------------------ the worker
    def _python(self) -> Path:
        python = recbole_python()
        if not python.exists():
            raise MissingExtraError(
                f"The recbole-sasrec peer needs its own venv: {python} does not exist; create "
                f"it with `{_CREATE}` (or set DECAYREC_RECBOLE_PYTHON)."
            )
        return python

    def _new_session(self) -> _Session:
        """A fresh exchange folder with the events and settings (the old one is closed)."""
        closer = self.__dict__.pop("_closer", None)
        if closer is not None:
            closer()  # stops the old worker and removes its folder (once)
        session = _Session()
        self._session = session
        self._closer = weakref.finalize(self, session.close)
        events = self.user_events_.columns  # by user, then time (training-log order on ties)
        pq.write_table(
            pa.table(
                {
                    "user": events.user.astype(np.int64),
                    "item": events.item.astype(np.int64),
                    "seconds": events.seconds.astype(np.float64),
                }
            ),
            session.folder / "events.parquet",
        )
        config = {
            "hidden_size": self.embedding_size,
            "inner_size": 4 * self.embedding_size,
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "dropout": float(self.dropout),
            "max_seq_length": self.max_seq_length,
            "learning_rate": float(self.learning_rate),
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "seed": self.random_state,
            "n_items": self.n_items,
            "threads": _TORCH_THREADS,
        }
        (session.folder / "config.json").write_text(json.dumps(config, indent=1))
        return session

    def _fit_state(self) -> None:
        pending = self.__dict__.pop("_pending_state", None)
        python = self._python()
        session = self._new_session()
        if pending is not None:  # load(): the saved weights, no training
            report = pending.pop("train_report")
            self.train_report_ = json.loads(bytes(np.asarray(report, dtype=np.uint8)).decode())
            np.savez(session.folder / "model.npz", **pending)
            return
        session.train(python)
        self.train_report_ = json.loads((session.folder / "train.json").read_text())

    def _score_known(self, user_index: IndexArray, at: FloatArray) -> FloatArray:
        return self._session.score(self._python(), user_index, at, self.n_items)

    def _explain_known(self, user: int, item: int, at: float) -> Explanation:
        score = float(self._score_known(np.array([user], dtype=np.int32), np.array([at]))[0, item])
        return self._item_explanation(
            self.events_.users.raw([user])[0],
            item,
            at,
            score=score,
            components={"sasrec": score},
        )

    # ------------------------------------------------------------------ persistence
    def _state_arrays(self) -> dict[str, np.ndarray[Any, Any]]:
        with np.load(self._session.folder / "model.npz", allow_pickle=False) as data:
            arrays: dict[str, np.ndarray[Any, Any]] = {key: data[key] for key in data.files}
        report = json.dumps(self.train_report_).encode()
        arrays["train_report"] = np.frombuffer(report, dtype=np.uint8).copy()
        return arrays

    def _load_state(self, arrays: Mapping[str, np.ndarray[Any, Any]]) -> None:
        self._pending_state = dict(arrays)
        self._refresh()


if __name__ == "__main__":  # pragma: no cover - a quick check from the command line
    ok, why = is_available()
    print(why)
    sys.exit(0 if ok else 1)
