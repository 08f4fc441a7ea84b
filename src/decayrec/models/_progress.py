"""A progress bar over training epochs (rich, on stderr), shared by the torch-trained models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["EpochProgress"]


class EpochProgress:
    """A rich progress bar over epochs (or nothing), yielding the per-epoch callback.

    ``label`` names the bar; ``metric`` names the held-out figure shown beside the training
    loss.
    """

    def __init__(self, show: bool, total: int, *, label: str, metric: str) -> None:
        self.show, self.total, self.label, self.metric = show, total, label, metric
        self._progress: Any = None

    def __enter__(self) -> Callable[[int, float, float], None] | None:
        if not self.show:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn(self.label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[figures]}"),
            console=Console(stderr=True),
        )
        self._progress.start()
        task = self._progress.add_task("train", total=self.total, figures="")

        def on_epoch(epoch: int, train_loss: float, held_out: float) -> None:
            figures = f"train loss {train_loss:.4f}  {self.metric} {held_out:.4f}"
            self._progress.update(task, completed=epoch + 1, figures=figures)

        return on_epoch

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
