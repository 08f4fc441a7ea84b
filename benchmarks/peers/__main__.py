"""``python -m benchmarks.peers``: decayrec's models and the available peers on one split.

The log is loaded, cleaned and split exactly like ``decayrec evaluate`` does (its own helpers),
every model is tuned on validation with the same budget, refitted and tested once; the result
is printed as a Markdown table, and optionally written as JSON (the ``decayrec evaluate``
shape, plus ``score_seconds`` per model and the hardware and versions) and as a PNG bar chart.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from decayrec.cli._common import load_with_report
from decayrec.cli.evaluate import parse_ks, split_events
from decayrec.eval import evaluate_models, render_markdown
from decayrec.eval.plots import plot_metric_bars
from decayrec.eval.runner import EvaluationResult, ModelSpec
from decayrec.models import MODELS

from .._harness import hardware, versions
from .registry import PEERS, missing_package

#: Metrics drawn in the bar chart, at every cutoff.
PLOTTED = ("ndcg", "recall", "hit_rate")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="Event log file or folder.")
    parser.add_argument("--format", dest="fmt", default="csv", help="As decayrec evaluate.")
    parser.add_argument("--protocol", choices=("loo", "temporal"), default="loo")
    parser.add_argument("--target", choices=("item", "category"), default="item")
    parser.add_argument("--repeats", choices=("exclude", "allow"), default="exclude")
    parser.add_argument(
        "--peers",
        default=",".join(PEERS),
        help=f"Comma-separated peers (default: all of {', '.join(PEERS)}).",
    )
    parser.add_argument(
        "--no-decayrec", action="store_true", help="Skip decayrec's own models (peers only)."
    )
    parser.add_argument("--k", default="10,20", help="Comma-separated cutoffs.")
    parser.add_argument("--at", default=None, help="temporal: start of the test period.")
    parser.add_argument("--horizon", default=None, help="temporal: test period length.")
    parser.add_argument("--validation", default=None, help="temporal: validation window.")
    parser.add_argument("--json", dest="json_out", type=Path, default=None)
    parser.add_argument("--png", dest="png_out", type=Path, default=None)
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.peers.split(",") if name.strip()]
    unknown = [name for name in names if name not in PEERS]
    if unknown:
        parser.error(f"--peers: unknown {', '.join(unknown)}; expected some of {', '.join(PEERS)}")
    args.peer_names = names
    return args


def model_specs(peer_names: Sequence[str], *, with_decayrec: bool = True) -> list[ModelSpec]:
    """decayrec's models (the runner adds their ``-no-decay`` variants) and available peers."""
    specs = [ModelSpec(str(name)) for name in MODELS] if with_decayrec else []
    for name in peer_names:
        entry = PEERS[name]
        package = missing_package(entry)
        if package is not None:
            print(f"skipping peer {name}: {_why_missing(package)}", flush=True)
            continue
        specs.append(entry.spec(name))
    return specs


def _why_missing(reason: str) -> str:
    """A package name becomes a sentence; an environment check already says why."""
    return reason if " " in reason else f"the package {reason!r} is not installed"


def json_document(result: EvaluationResult) -> dict[str, Any]:
    """``decayrec evaluate``'s JSON, with ``score_seconds`` per model and the environment."""
    doc = result.to_json_dict()
    for entry, model in zip(doc["results"], result.results, strict=True):
        entry["score_seconds"] = model.evaluate_seconds
    doc["environment"] = {
        "hardware": hardware(),
        "versions": versions(["decayrec", "numpy", "scipy", "polars", "implicit"]),
    }
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    ks = parse_ks(args.k)
    specs = model_specs(args.peer_names, with_decayrec=not args.no_decayrec)
    if not specs:
        print("nothing to evaluate: no model and no available peer", file=sys.stderr)
        return 2
    events, _ = load_with_report(args.data, args.fmt)
    split = split_events(
        events, args.protocol, at=args.at, horizon=args.horizon, validation=args.validation
    )
    print(f"{split.description}; sizes {split.sizes}", file=sys.stderr)
    result = evaluate_models(
        split,
        specs,
        target=args.target,
        repeats=args.repeats,
        ks=ks,
        dataset=args.data.name,
        progress=True,
    )
    doc = json_document(result)
    print(render_markdown(doc), end="")
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json_out}")
    if args.png_out is not None:
        metrics = [f"{name}@{k}" for k in ks for name in PLOTTED]
        bars = {r.model: r.metrics for r in result.results}
        plot_metric_bars(args.png_out, bars, metrics)
        print(f"wrote {args.png_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
