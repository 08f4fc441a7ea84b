"""Train RecBole's SASRec and score requested users with it; runs inside the RecBole venv.

Only ``recbole==1.2.1``, ``torch==2.13.0`` (CPU), numpy<2, pandas and pyarrow exist there
(``benchmarks/peers/recbole_env.sh``): this module must not import decayrec. The adapter,
``benchmarks/peers/recbole_sasrec.py``, runs it as ``python -I _recbole_worker.py MODE DIR`` with
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (RecBole 1.2.1 predates torch's ``weights_only`` default;
this module itself never calls ``torch.load``: weights travel as ``.npz``).

Modes (``DIR`` is the exchange folder):

``train DIR``
    Writes RecBole's atomic file ``DIR/recbole/inter/inter.inter`` from ``events.parquet`` and
    trains SASRec with RecBole's own pipeline (``Config``, ``create_dataset``, the sequential
    data augmentation, ``TrainDataLoader`` and ``Trainer.fit``): full-softmax cross-entropy,
    Adam, ``epochs`` epochs, CPU, seeded by RecBole's ``init_seed``. Writes ``model.npz``.
``score DIR``
    Scores ``requests.parquet`` once and writes ``scores.parquet`` (one process per batch).
``serve DIR``
    The same, kept warm: loads the model once, then reads one request folder per line on
    stdin, scores its ``requests.parquet`` into its ``scores.parquet`` and answers ``ok`` (or
    ``error: ...``, with the traceback on stderr) on stdout; ends at end of input. The adapter
    uses this mode.

Why a warm process: starting python, torch and RecBole's model module costs about 1.6 s (2
cores); one Amazon Beauty evaluation is 32 batches of ~700 users (the base class caps a batch
at 2^23 score cells), and tuning evaluates 5 times, so a process per batch would add minutes.
Scoring never re-runs RecBole's dataset preprocessing: ``model.npz`` holds the trained
``state_dict`` and the internal item ids, and the bare ``SASRec`` module is rebuilt from them
and the hyper-parameters in ``config.json`` (RecBole's ``Config`` and ``Dataset`` are not
needed for that: ``SASRec.__init__`` reads only keys of the config and ``dataset.num``).

Exchange files (all Parquet, except ``config.json`` and the weights):

``config.json`` (adapter)
    ``hidden_size``, ``inner_size``, ``n_layers``, ``n_heads``, ``dropout`` (RecBole's
    ``hidden_dropout_prob`` and ``attn_dropout_prob``), ``max_seq_length``
    (``MAX_ITEM_LIST_LENGTH``), ``learning_rate``, ``epochs``, ``batch_size``
    (``train_batch_size``), ``seed``, ``n_items`` (the adapter's catalogue size) and
    ``threads`` (``torch.set_num_threads``: 2, the cores of the benchmark machine; fixed, so
    that a seed gives the same weights).
``events.parquet`` (adapter)
    ``user``, ``item`` (int64, the model's indices) and ``seconds`` (float64): the training
    events, ordered by user, then time, then the training log's order on equal times. That
    order is kept on ties everywhere (RecBole sorts stably; scoring reads it as written).
``model.npz`` (``train``)
    The ``state_dict`` as float32 arrays under their own names, plus ``_item_index``: for each
    RecBole internal item id the model's item index (``-1`` for the padding id 0).
``train.json`` (``train``)
    Seconds spent building the dataset and training, the number of training sequences and
    the loss of every epoch.
``requests.parquet`` (adapter)
    ``user`` (int64) and ``at`` (float64 seconds), one row per score row.
``scores.parquet`` (``score`` / ``serve``)
    One row per request, in request order, with one column ``scores``: a fixed-size list of
    ``n_items`` float32 values, value ``j`` = SASRec's logit of the model's item ``j`` (the
    output of ``SASRec.full_sort_predict``; RecBole's padding column 0 dropped). An item
    RecBole holds no id for scores ``-inf`` (cannot happen while every catalogue item occurs in
    the training events, as the adapter guarantees). A request whose user has no event at or
    before ``at`` gets a row of zeros (the adapter never sends one: decayrec's base class gives
    such users its popularity fallback).

The sequence scored for a request is its user's training events at or before ``at`` in the
order above, the last ``max_seq_length`` of them, left-aligned as RecBole's augmentation lays
out training sequences (position 0 = oldest kept item).

What RecBole's pipeline would add and is switched off, and why:

* Its evaluation split: ``eval_args`` splits the augmented sequences ``RS [1, 0, 0]`` (all
  training, empty valid and test), so every event trains. RecBole's default for sequential
  models, leave-one-out, would withhold each user's last two events; decayrec's runner tunes on
  its own validation split instead. ``Trainer.fit`` gets no valid data: no early stopping, no
  checkpoint, the weights after the last epoch are kept.
* Its filters: none (``[0, inf)`` intervals, no duplicate removal), so the item ids cover the
  adapter's whole catalogue.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

_USER_FIELD = "user_id"
_ITEM_FIELD = "item_id"
_TIME_FIELD = "timestamp"
_DATASET = "inter"


def _read_config(folder: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((folder / "config.json").read_text())
    torch.set_num_threads(int(config["threads"]))
    return config


def _read_events(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = pq.read_table(folder / "events.parquet", columns=["user", "item", "seconds"])
    user = table.column("user").to_numpy().astype(np.int64)
    item = table.column("item").to_numpy().astype(np.int64)
    seconds = table.column("seconds").to_numpy().astype(np.float64)
    return user, item, seconds


def _recbole_settings(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """RecBole's ``config_dict``: the model's hyper-parameters and the data set switches."""
    return {
        "data_path": str(folder / "recbole"),
        "checkpoint_dir": str(folder / "recbole" / "saved"),
        "load_col": {"inter": [_USER_FIELD, _ITEM_FIELD, _TIME_FIELD]},
        "USER_ID_FIELD": _USER_FIELD,
        "ITEM_ID_FIELD": _ITEM_FIELD,
        "TIME_FIELD": _TIME_FIELD,
        "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)",
        "rm_dup_inter": None,
        "MAX_ITEM_LIST_LENGTH": int(config["max_seq_length"]),
        "hidden_size": int(config["hidden_size"]),
        "inner_size": int(config["inner_size"]),
        "n_layers": int(config["n_layers"]),
        "n_heads": int(config["n_heads"]),
        "hidden_dropout_prob": float(config["dropout"]),
        "attn_dropout_prob": float(config["dropout"]),
        "loss_type": "CE",
        "train_neg_sample_args": None,
        "learner": "adam",
        "learning_rate": float(config["learning_rate"]),
        "epochs": int(config["epochs"]),
        "train_batch_size": int(config["batch_size"]),
        "seed": int(config["seed"]),
        "reproducibility": True,
        "use_gpu": False,
        "gpu_id": "",
        "worker": 0,
        "shuffle": True,
        "show_progress": False,
        "save_dataset": False,
        "save_dataloaders": False,
        "log_wandb": False,
        "eval_args": {
            "split": {"RS": [1.0, 0.0, 0.0]},
            "group_by": "none",
            "order": "TO",
            "mode": "full",
        },
    }


def _write_atomic_file(folder: Path) -> int:
    """``events.parquet`` as RecBole's ``inter.inter`` (tab-separated, typed header)."""
    import pandas as pd

    user, item, seconds = _read_events(folder)
    target = folder / "recbole" / _DATASET
    target.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {
            f"{_USER_FIELD}:token": user,
            f"{_ITEM_FIELD}:token": item,
            f"{_TIME_FIELD}:float": seconds,
        }
    )
    frame.to_csv(target / f"{_DATASET}.inter", sep="\t", index=False, float_format="%.17g")
    return len(frame)


def train(folder: Path) -> None:
    """Train SASRec on ``events.parquet`` with RecBole's pipeline; write ``model.npz``."""
    from recbole.config import Config
    from recbole.data import create_dataset
    from recbole.data.utils import get_dataloader
    from recbole.model.sequential_recommender.sasrec import SASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    config = _read_config(folder)
    start = time.perf_counter()
    n_events = _write_atomic_file(folder)
    settings = Config(
        model="SASRec", dataset=_DATASET, config_dict=_recbole_settings(config, folder)
    )
    init_seed(settings["seed"], settings["reproducibility"])
    dataset = create_dataset(settings)
    train_set, _, _ = dataset.build()
    train_data = get_dataloader(settings, "train")(settings, train_set, None, shuffle=True)
    built = time.perf_counter()
    model = SASRec(settings, train_set).to(settings["device"])
    trainer = Trainer(settings, model)
    trainer.fit(train_data, valid_data=None, verbose=False, saved=False, show_progress=False)
    trained = time.perf_counter()

    tokens = dataset.field2id_token[_ITEM_FIELD]
    item_index = np.full(len(tokens), -1, dtype=np.int64)
    item_index[1:] = np.asarray(tokens[1:]).astype(np.int64)
    weights = {key: value.detach().cpu().numpy() for key, value in model.state_dict().items()}
    np.savez(folder / "model.npz", _item_index=item_index, **weights)
    report = {
        "n_events": n_events,
        "n_sequences": len(train_set),
        "n_recbole_items": len(tokens),
        "dataset_seconds": built - start,
        "train_seconds": trained - built,
        "epoch_loss": [float(trainer.train_loss_dict[k]) for k in sorted(trainer.train_loss_dict)],
    }
    (folder / "train.json").write_text(json.dumps(report, indent=1))


class _Catalogue:
    """What ``SASRec.__init__`` asks of a RecBole dataset: the number of item ids."""

    def __init__(self, n_ids: int) -> None:
        self.n_ids = n_ids

    def num(self, field: str) -> int:
        if field != _ITEM_FIELD:
            raise KeyError(field)
        return self.n_ids


class Scorer:
    """The trained SASRec and the training sequences, loaded once; scores request batches."""

    def __init__(self, folder: Path) -> None:
        from recbole.model.sequential_recommender.sasrec import SASRec

        config = _read_config(folder)
        self.n_items = int(config["n_items"])
        self.max_seq_length = int(config["max_seq_length"])
        with np.load(folder / "model.npz", allow_pickle=False) as data:
            item_index = data["_item_index"]
            weights = {key: torch.from_numpy(data[key]) for key in data.files if key[0] != "_"}
        settings = {
            "USER_ID_FIELD": _USER_FIELD,
            "ITEM_ID_FIELD": _ITEM_FIELD,
            "LIST_SUFFIX": "_list",
            "ITEM_LIST_LENGTH_FIELD": "item_length",
            "NEG_PREFIX": "neg_",
            "MAX_ITEM_LIST_LENGTH": self.max_seq_length,
            "device": torch.device("cpu"),
            "n_layers": int(config["n_layers"]),
            "n_heads": int(config["n_heads"]),
            "hidden_size": int(config["hidden_size"]),
            "inner_size": int(config["inner_size"]),
            "hidden_dropout_prob": float(config["dropout"]),
            "attn_dropout_prob": float(config["dropout"]),
            "hidden_act": "gelu",
            "layer_norm_eps": 1e-12,
            "initializer_range": 0.02,
            "loss_type": "CE",
        }
        self.model = SASRec(settings, _Catalogue(len(item_index)))
        self.model.load_state_dict(weights, strict=True)
        self.model.eval()
        self.seq_field = self.model.ITEM_SEQ
        self.len_field = self.model.ITEM_SEQ_LEN
        # RecBole's id of each of the model's items (0: none), and the scores' columns.
        self.internal = np.zeros(self.n_items, dtype=np.int64)
        known = np.flatnonzero(item_index >= 0)
        self.internal[item_index[known]] = known
        self.known_ids = known
        self.known_items = item_index[known]

        user, item, seconds = _read_events(folder)
        # Keep the written order on ties (stable sort; already sorted by the adapter).
        order = np.lexsort((seconds, user))
        self.user, self.seconds = user[order], seconds[order]
        self.item_id = self.internal[item[order]]
        # Exact integer keys (user, rank of time) for a vectorised "events <= at" search.
        self.times = np.unique(self.seconds)
        self.stride = np.int64(len(self.times) + 1)
        self.keys = self.user * self.stride + np.searchsorted(self.times, self.seconds)

    def sequences(self, user: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Left-aligned ``(B, max_seq_length)`` RecBole item ids and the lengths ``(B,)``."""
        rank_at = np.searchsorted(self.times, at, side="right") - 1  # -1: before every event
        end = np.searchsorted(self.keys, user * self.stride + rank_at, side="right")
        begin = np.searchsorted(self.keys, user * self.stride - 1, side="right")
        start = np.maximum(begin, end - self.max_seq_length)
        length = np.maximum(end - start, 0)
        rows = np.repeat(np.arange(len(user)), length)
        first = np.cumsum(length) - length
        column = np.arange(int(length.sum())) - np.repeat(first, length)
        seq = np.zeros((len(user), self.max_seq_length), dtype=np.int64)
        seq[rows, column] = self.item_id[np.repeat(start, length) + column]
        return seq, length

    def score(self, user: np.ndarray, at: np.ndarray) -> np.ndarray:
        """``(B, n_items)`` float32: SASRec's logits, columns = the model's item indices."""
        out = np.full((len(user), self.n_items), -np.inf, dtype=np.float32)
        seq, length = self.sequences(user, at)
        has = length > 0
        out[~has] = 0.0
        seq_t, length_t = torch.from_numpy(seq), torch.from_numpy(length)
        with torch.inference_mode():
            # One row at a time: torch picks other kernels for other batch sizes (the same
            # sequence scored in a batch of 1 and of 700 differs in the last bits), and a
            # row's scores must not depend on its batch-mates. ~0.3 ms a row.
            for row in np.flatnonzero(has).tolist():
                batch = {
                    self.seq_field: seq_t[row : row + 1],
                    self.len_field: length_t[row : row + 1],
                }
                logits = self.model.full_sort_predict(batch)[0].numpy()
                out[row, self.known_items] = logits[self.known_ids]
        return out

    def answer(self, request: Path) -> None:
        """Score ``request/requests.parquet`` into ``request/scores.parquet``."""
        table = pq.read_table(request / "requests.parquet", columns=["user", "at"])
        user = table.column("user").to_numpy().astype(np.int64)
        at = table.column("at").to_numpy().astype(np.float64)
        scores = self.score(user, at)
        values = pa.array(scores.reshape(-1), type=pa.float32())
        column = pa.FixedSizeListArray.from_arrays(values, self.n_items)
        pq.write_table(
            pa.table({"scores": column}),
            request / "scores.parquet",
            compression="none",
            use_dictionary=False,
            write_statistics=False,
        )


def serve(folder: Path) -> None:
    """Answer one request folder per stdin line until end of input (see the module doc)."""
    # Only protocol lines go to stdout: anything the libraries print goes to stderr.
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    scorer = Scorer(folder)
    protocol.write("ready\n")
    for line in sys.stdin:
        request = line.strip()
        if not request:
            continue
        try:
            scorer.answer(Path(request))
        except Exception as exc:  # reported to the adapter; the process stays usable
            traceback.print_exc()
            protocol.write(f"error: {type(exc).__name__}: {exc}".replace("\n", " ") + "\n")
        else:
            protocol.write("ok\n")


def main(argv: list[str]) -> int:
    modes = {"train": train, "score": lambda folder: Scorer(folder).answer(folder), "serve": serve}
    if len(argv) != 2 or argv[0] not in modes:
        print("usage: python -I _recbole_worker.py train|score|serve DIR", file=sys.stderr)
        return 2
    torch.set_num_interop_threads(1)
    modes[argv[0]](Path(argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
