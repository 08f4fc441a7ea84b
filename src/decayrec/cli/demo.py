"""``decayrec demo``: the whole pipeline on a simulated shop, end to end, in under a minute.

Simulate a shop with known per-category half-lives, dirty its log the way real exports are dirty
(duplicates, a bot, broken rows), clean it with a report, split it in time, tune and evaluate
the decayed models against their decay-off variants and popularity, explain recommendations for
three shoppers, and write PNG plots.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import polars as pl
import typer
from rich.table import Table

from decayrec._time import from_seconds
from decayrec.cli._app import app, console
from decayrec.cli._common import step
from decayrec.cli.data import summary_table
from decayrec.data import CleaningConfig, EventLog, clean_events
from decayrec.data.simulate import ShopConfig, SimulatedShop, simulate_shop
from decayrec.data.split import temporal_split
from decayrec.eval import evaluate_models, render_table
from decayrec.eval.plots import plot_decay_curves, plot_interest_trajectories, plot_metric_bars
from decayrec.models import make_model

__all__ = ["dirty_log"]

_DAY = 86400.0


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for plots and results.")] = Path(
        "demo-out"
    ),
    users: Annotated[int, typer.Option(help="Simulated shoppers.")] = 3000,
    days: Annotated[int, typer.Option(help="Simulated days.")] = 120,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Simulate a shop, clean, fit, evaluate, explain and plot (no server, no downloads)."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    config = ShopConfig(
        n_users=users, n_items=max(200, users * 2 // 3), n_categories=30, days=days, seed=seed
    )
    with step("Simulating a shop"):
        shop = simulate_shop(config)
    console.rule("1. Data")
    raw = dirty_log(shop, seed=seed)
    raw_path = out / "events.csv"
    raw.write_csv(raw_path)
    frame, report = clean_events(
        raw, CleaningConfig(max_events_per_minute=30), source=str(raw_path)
    )
    console.print(report.to_table())
    events = EventLog.from_frame(frame, source=str(raw_path))
    console.print(summary_table(events, title="the cleaned log"))

    console.rule("2. Evaluation (temporal split, full ranking, half-lives tuned on validation)")
    _, last = events.time_range()
    split = temporal_split(events, at=last - 14 * _DAY, validation=14 * _DAY)
    tables = {}
    for target in ("item", "category"):
        result = evaluate_models(
            split,
            ["decayed-popularity", "decayed-profile", "decayed-itemknn"],
            target=target,
            repeats="allow",
            ks=(10,),
            dataset="simulated shop",
            progress=True,
        )
        tables[target] = result
        console.print(render_table(result, title=f"target = {target}, repeats allowed"))
        (out / f"results_{target}.json").write_text(
            json.dumps(result.to_json_dict(), indent=2) + "\n"
        )
    _print_verdict(tables["item"].to_json_dict())

    console.rule("3. Recommendations, explained")
    best = tables["item"].best_params("decayed-profile")
    model = make_model("decayed-profile", **best).fit(split.train_and_validation())
    at = last - 14 * _DAY
    chosen = _three_users(events, split.train_and_validation())
    recs = model.recommend(chosen, at=at, n=5)
    for row, user_id in enumerate(recs.user_ids):
        table = Table(title=f"Shopper {user_id} at {from_seconds(at):%Y-%m-%d %H:%M} UTC")
        table.add_column("rank", justify="right")
        table.add_column("item")
        table.add_column("category")
        table.add_column("score", justify="right")
        for rank, (item_id, score) in enumerate(recs.for_user(user_id), start=1):
            explanation = model.explain(user_id, item_id, at=at)
            table.add_row(str(rank), item_id, explanation.category_id or "-", f"{score:.4g}")
        console.print(table)
        top_item = recs.item_ids(row)[0]
        console.print(model.explain(user_id, top_item, at=at).to_text(max_events=3))

    console.rule("4. Plots")
    half_lives = shop.category_half_life_seconds
    order = np.argsort(half_lives)
    picks = [int(order[0]), int(order[len(order) // 2]), int(order[-1])]
    paths = [
        plot_decay_curves(
            out / "decay_curves.png",
            half_life_seconds=float(model.half_life_seconds_),
            category_half_lives={f"category c{c} (true)": float(half_lives[c]) for c in picks},
        ),
        plot_interest_trajectories(
            out / "interest_trajectories.png",
            events,
            [int(events.users.index(u) or 0) for u in chosen],
            half_life_seconds=_per_category(events, shop),
        ),
        plot_metric_bars(
            out / "metrics.png",
            {r["model"]: r["metrics"] for r in tables["item"].to_json_dict()["results"]},
            ["ndcg@10", "recall@10", "mrr@10", "hit_rate@10"],
        ),
    ]
    for path in paths:
        console.print(f"wrote {path}")
    console.print(f"Demo finished in {time.perf_counter() - started:.1f}s.")


def dirty_log(shop: SimulatedShop, *, seed: int) -> pl.DataFrame:
    """The simulated log as a raw export with the usual faults injected.

    Adds exact duplicates (1% of rows), a scraping bot (600 views in ten minutes), rows with a
    missing item id, a misspelt event type and a timestamp from 1970, so the cleaning report has
    something to say.
    """
    rng = np.random.default_rng(seed)
    frame = shop.events.to_frame().with_columns(
        pl.col("timestamp").dt.epoch("s").alias("timestamp")
    )
    dupes = frame[np.sort(rng.choice(frame.height, frame.height // 100, replace=False))]
    first = int(frame["timestamp"].min())  # type: ignore[arg-type]
    bot = pl.DataFrame(
        {
            "user_id": ["crawler-1"] * 600,
            "item_id": [f"i{i}" for i in rng.integers(0, len(shop.events.items), 600)],
            "category_id": ["c0"] * 600,
            "timestamp": first + 86400 + np.arange(600, dtype=np.int64),
            "event_type": ["view"] * 600,
        }
    )
    broken = pl.DataFrame(
        {
            "user_id": ["u1", "u2", "u3"],
            "item_id": [None, "i1", "i2"],
            "category_id": ["c0", "c0", "c0"],
            "timestamp": [first + 10, first + 20, 0],
            "event_type": ["view", "clik", "view"],
        }
    )
    return pl.concat([frame, dupes, bot, broken], how="diagonal_relaxed")


def _three_users(events: EventLog, history: EventLog) -> list[str]:
    """Three shoppers with rich histories (deterministic), as raw ids."""
    counts = np.bincount(history.user_index, minlength=len(events.users))
    picks = np.argsort(-counts, kind="stable")[[10, 50, 100]]
    return events.users.raw(picks)


def _per_category(events: EventLog, shop: SimulatedShop) -> np.ndarray:
    """True half-life per category of the cleaned log's category vocabulary."""
    truth = dict(
        zip(shop.events.categories.ids.to_list(), shop.category_half_life_seconds, strict=True)
    )
    return np.array([truth[c] for c in events.categories.ids.to_list()])


def _print_verdict(doc: dict[str, Any]) -> None:
    """One line per decayed model: decay on vs off, and vs trending items (popularity)."""
    scores = {r["model"]: r["metrics"]["ndcg@10"] for r in doc["results"]}
    popularity = scores.get("decayed-popularity")
    for name in ("decayed-profile", "decayed-itemknn", "decayed-popularity"):
        if name not in scores or f"{name}-no-decay" not in scores:
            continue
        on, off = scores[name], scores[f"{name}-no-decay"]
        line = f"{name}: NDCG@10 {on:.4f} with decay vs {off:.4f} without ({_change(on, off)})"
        if popularity is not None and name != "decayed-popularity":
            line += f"; decayed popularity {popularity:.4f} ({_change(on, popularity)})"
        console.print(line)


def _change(new: float, old: float) -> str:
    return f"{(new / old - 1) * 100:+.0f}%" if old else "n/a"
