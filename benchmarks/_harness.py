"""Shared helpers for the benchmark scripts: best-of-N timing, rates, hardware and versions.

Why: every benchmark reports the same way (scikit-learn ``asv_benchmarks`` spirit, implicit's
``benchmarks/README.md`` for what to record), so numbers from different scripts and machines
can be read side by side. Results are printed, never written into the repository.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from decayrec.data.schema import EventLog
    from decayrec.data.split import Split
    from decayrec.eval.protocols import EvaluationCase, TargetKind
    from decayrec.models import LearnedDecay

__all__ = [
    "BEAUTY",
    "SHARED_DATA",
    "Timing",
    "add_case_arguments",
    "add_log_arguments",
    "format_rate",
    "hardware",
    "last_event",
    "load_log",
    "mean_of_known",
    "parse_count",
    "print_environment",
    "print_timings",
    "split_of",
    "time_best",
    "validation_case",
    "validation_case_of",
    "validation_case_of_split",
    "versions",
]

T = TypeVar("T")

#: Environment variables that change how numerical libraries run; printed when set.
_RELEVANT_ENV = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "NPY_DISABLE_CPU_FEATURES",
)


@dataclass(frozen=True)
class Timing:
    """Wall-clock runs of one measured callable; ``best`` is what rates are computed from.

    Why best-of-N: on a shared two-core machine the slower runs measure the neighbours (and
    first-touch page faults of fresh allocations), not the code.
    """

    name: str
    runs: tuple[float, ...]
    items: int

    @property
    def best(self) -> float:
        """The fastest run, seconds."""
        return min(self.runs)

    @property
    def rate(self) -> float:
        """Items per second in the fastest run."""
        return self.items / self.best if self.best > 0 else float("inf")


def time_best(name: str, func: Callable[[], T], *, items: int, repeat: int = 3) -> tuple[Timing, T]:
    """Run ``func`` ``repeat`` times (garbage collected before each) and keep the last result.

    Returns
    -------
    (Timing, result)
        The runs, and the value of the last call (to check it against a baseline).
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1. Got {repeat!r} instead.")
    runs: list[float] = []
    last: list[T] = []
    for _ in range(repeat):
        last.clear()  # free the previous result before the next run allocates its own
        gc.collect()
        start = time.perf_counter()
        last.append(func())
        runs.append(time.perf_counter() - start)
    return Timing(name, tuple(runs), items), last[0]


def format_rate(per_second: float, unit: str = "events/s") -> str:
    """``12.3 M events/s`` style (k, M, G prefixes)."""
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if per_second >= factor:
            return f"{per_second / factor:.2f} {prefix} {unit}"
    return f"{per_second:.1f} {unit}"


def parse_count(text: str) -> int:
    """Parse ``10000000``, ``10_000_000``, ``1e7`` or ``10M`` (argparse ``type=``)."""
    cleaned = text.strip().replace("_", "").replace(",", "")
    scale = 1
    if cleaned[-1:].upper() in {"K", "M", "G"}:
        scale = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}[cleaned[-1].upper()]
        cleaned = cleaned[:-1]
    value = float(cleaned) * scale
    if value < 1 or value != int(value):
        raise ValueError(f"expected a positive whole number, got {text!r}")
    return int(value)


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def _memory_gib() -> str:
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                return f"{kib / 2**20:.1f} GiB"
    return "unknown"


def hardware() -> dict[str, str]:
    """CPU model and counts, memory, OS and Python, as printable strings."""
    try:
        usable = str(len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        usable = "n/a"
    return {
        "cpu": _cpu_model(),
        "cpu count": str(os.cpu_count()),
        "usable cpus": usable,
        "memory": _memory_gib(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
    }


def versions(packages: Iterable[str]) -> dict[str, str]:
    """Installed version of each distribution (``"not installed"`` when absent)."""
    found: dict[str, str] = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def print_environment(packages: Sequence[str]) -> None:
    """Print hardware, library versions and performance-relevant environment variables."""
    print("hardware:")
    for key, value in hardware().items():
        print(f"  {key:<12} {value}")
    print("versions:")
    for key, value in versions(packages).items():
        print(f"  {key:<12} {value}")
    env = {name: os.environ[name] for name in _RELEVANT_ENV if name in os.environ}
    if env:
        print("environment:")
        for key, value in env.items():
            print(f"  {key:<12} {value}")


def print_timings(timings: Sequence[Timing], *, reference: Timing, unit: str) -> None:
    """A table of best time, all runs, rate, and speed relative to ``reference``."""
    width = max(len(t.name) for t in timings)
    print(f"  {'':<{width}}  {'best s':>8}  {'runs s':<24}  {'rate':>18}  {'vs ' + reference.name}")
    for timing in timings:
        runs = " ".join(f"{run:.3f}" for run in timing.runs)
        ratio = timing.best / reference.best if reference.best > 0 else float("inf")
        print(
            f"  {timing.name:<{width}}  {timing.best:>8.3f}  {runs:<24}  "
            f"{format_rate(timing.rate, unit):>18}  {ratio:.2f}x time"
        )


def print_target(subject: str, rate: float, target: float, unit: str) -> bool:
    """Print whether ``subject`` reached ``target`` per second; returns whether it did."""
    met = rate >= target
    print(
        f"target >= {format_rate(target, unit)} for {subject}: "
        f"{'met' if met else 'NOT met'} ({format_rate(rate, unit)})"
    )
    return met


#: The shared data folder: ``$DECAYREC_SHARED_DATA`` (as the benchmark shell scripts read it),
#: by default ``../shared/data`` beside the checkout, so a clone elsewhere can still find it.
SHARED_DATA = Path(
    os.environ.get(
        "DECAYREC_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)
#: Amazon Beauty 5-core there: the default log of the model benchmarks.
BEAUTY = SHARED_DATA / "amazon_beauty_5core" / "interactions.csv"


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data --format --events --simulated``: Beauty where present, else a simulated shop."""
    parser.add_argument("--data", type=Path, default=BEAUTY if BEAUTY.exists() else None)
    parser.add_argument("--format", dest="fmt", default="amazon")
    parser.add_argument("--simulated", action="store_true", help="a simulated shop, not --data")
    parser.add_argument("--events", type=parse_count, default=200_000, help="simulated size")


def load_log(args: argparse.Namespace) -> tuple[EventLog, str]:
    """The log :func:`add_log_arguments` chose, and a line naming it."""
    from decayrec.data import load_events
    from decayrec.data.simulate import simulate_events

    if args.data is not None and not args.simulated:
        events, _ = load_events(args.data, args.fmt)
        return events, str(args.data)
    return simulate_events(args.events, seed=0), f"simulated shop ({args.events:,} events)"


def add_case_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data --format --protocol --target``: the log and protocol of a validation case."""
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--format", dest="fmt", default="csv")
    parser.add_argument("--protocol", choices=("loo", "temporal"), default="loo")
    parser.add_argument("--target", choices=("item", "category"), default="item")
    parser.add_argument(
        "--fold",
        type=_parse_fold,
        default=None,
        help="K/N (temporal): fold K of `decayrec evaluate --folds N` (1 oldest) instead of "
        "the default split (which is fold N/N)",
    )


def _parse_fold(text: str) -> tuple[int, int]:
    """``"1/4"`` -> ``(1, 4)`` (argparse ``type=``)."""
    number, _, count = text.partition("/")
    try:
        fold, folds = int(number), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N such as 1/4, got {text!r}") from None
    if not 1 <= fold <= folds:
        raise argparse.ArgumentTypeError(f"expected 1 <= K <= N in K/N, got {text!r}")
    return fold, folds


def validation_case(args: argparse.Namespace, max_users: int = 5000) -> EvaluationCase:
    """The validation case ``decayrec evaluate`` tunes on (repeats allowed, at most
    ``max_users`` users; the test part is never read), announced on one line."""
    from decayrec.data import load_events

    events, _ = load_events(args.data, args.fmt)
    case, description = validation_case_of(
        events, args.protocol, args.target, max_users, fold=args.fold
    )
    print(f"{args.data}: {description}; {case.n_users} validation users")
    return case


def validation_case_of(
    events: EventLog,
    protocol: str,
    target: TargetKind,
    max_users: int | None = 5000,
    fold: tuple[int, int] | None = None,
) -> tuple[EvaluationCase, str]:
    """The validation case of ``events`` split as ``decayrec evaluate`` splits them (repeats
    allowed; ``max_users=None``: every validation user), and the split's description.
    ``fold=(k, n)``: the split of fold ``k`` of ``decayrec evaluate --folds n`` instead."""
    split = split_of(events, protocol, fold)
    return validation_case_of_split(split, target, max_users), split.description


def validation_case_of_split(
    split: Split, target: TargetKind, max_users: int | None = 5000
) -> EvaluationCase:
    """The validation case of ``split`` as ``decayrec evaluate`` tunes on it (repeats
    allowed, at most ``max_users`` users; ``None``: every validation user)."""
    from decayrec.eval.protocols import EvaluationCase

    case = EvaluationCase.from_split(split, part="validation", target=target, repeats="allow")
    return case if max_users is None else case.subsample(max_users)


def split_of(events: EventLog, protocol: str, fold: tuple[int, int] | None = None) -> Split:
    """``events`` split as ``decayrec evaluate`` splits them, or with ``fold=(k, n)`` as fold
    ``k`` of ``decayrec evaluate --folds n`` (temporal only): what ``decayrec tune`` searches
    on, so a script can tune a fixed model on the validation part it scores."""
    from decayrec.cli.evaluate import split_events
    from decayrec.data import rolling_temporal_splits

    if fold is None:
        return split_events(events, protocol, at=None, horizon=None, validation=None)
    if protocol != "temporal":
        raise ValueError(f"--fold needs --protocol temporal. Got {protocol!r}.")
    return rolling_temporal_splits(events, fold[1])[fold[0] - 1]


def last_event(
    model: LearnedDecay, case: EvaluationCase
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """Per user of ``case``: whether a visit is under way when asked, as the fitted
    ``model`` itself reads it (the ``in_session`` events of the request's history window), and
    the days since their last training event (``inf`` without one)."""
    from decayrec.models._learned_history import request_windows

    users = model.events_.users.indices(list(case.user_ids))
    known = users >= 0
    window = request_windows(
        model.user_events_, users[known], np.asarray(case.at_seconds)[known], 1,
        model.session_gap_seconds_,
    )  # fmt: skip
    within = np.zeros(len(users), dtype=bool)
    within[known] = window.in_session.any(axis=1)
    days = np.full(len(users), math.inf)
    days[known] = np.where(window.valid[:, 0], window.age_days[:, 0], math.inf)
    return within, days


def mean_of_known(values: npt.NDArray[np.float64]) -> str:
    """The mean of per-user values over users with a target (NaN for the others), to four
    decimals, or "-" where there are none."""
    known = values[~np.isnan(values)]
    return f"{known.mean():.4f}" if known.size else "-"
