"""DIGINETICA (CIKM Cup 2016 personalised e-commerce search), ``format="diginetica"``.

``path`` is the data folder or a file in it. Read from that folder:

* ``train-purchases.csv`` (required): ``sessionId;userId;timeframe;eventdate;ordernumber;
  itemId``, as purchases;
* ``train-item-views.csv`` or, failing that, ``sample_train-item-views.csv`` (when present):
  ``sessionId;userId;itemId;timeframe;eventdate`` (either camelCase or snake_case), as views;
* ``product-categories.csv`` (when present): ``itemId;categoryId``, joined for the category.

The timestamp is ``eventdate`` (a day, UTC) plus ``timeframe`` (milliseconds since the session
began). ``userId`` is ``NA`` for anonymous sessions: their user id becomes the session id
prefixed ``"s:"`` (e.g. ``"s:151"``), so each anonymous session is a user of its own and its
events stay usable for session-based models. Rows are ordered by time (views before purchases
at equal times); ``_file`` names the file of each row.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

import polars as pl

from decayrec.data.formats._base import (
    FormatSpec,
    RawEvents,
    check_header,
    join_categories,
    read_delimited,
    read_failure,
)
from decayrec.data.formats.csv import read_header
from decayrec.errors import DataValidationError

__all__ = ["FORMAT", "read_diginetica"]

_PURCHASES: Final = "train-purchases.csv"
_VIEWS: Final = ("train-item-views.csv", "sample_train-item-views.csv")
_CATEGORIES: Final = "product-categories.csv"
_VIEW_KEYS: Final = ("sessionid", "userid", "itemid", "timeframe", "eventdate")
_PURCHASE_KEYS: Final = ("sessionid", "userid", "timeframe", "eventdate", "ordernumber", "itemid")


def _key(name: str) -> str:
    return name.replace("_", "").lower()


def _read_part(path: Path, *, event_type: str, keys: tuple[str, ...], source: str) -> pl.DataFrame:
    header, _ = read_header(path, source, ";")
    by_key = {_key(name): name for name in header}
    check_header(list(by_key), keys, source=str(path), fmt="diginetica")
    col = {key: pl.col(by_key[key]) for key in keys}
    frame = read_delimited(
        path,
        source=str(path),
        fmt="diginetica",
        names=header,
        select=[by_key[key] for key in keys],
        separator=";",
        has_header=True,
    )
    session = col["sessionid"]
    user = col["userid"]
    anonymous = user.is_null() | user.is_in(["NA", ""])
    day = col["eventdate"].str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
    offset = col["timeframe"].str.strip_chars().cast(pl.Int64, strict=False)
    extras = [col["eventdate"].alias("eventdate"), col["timeframe"].alias("timeframe")]
    if "ordernumber" in keys:
        extras.append(col["ordernumber"].alias("ordernumber"))
    return frame.select(
        "_row",
        pl.lit(path.name).alias("_file"),
        "_malformed",
        pl.when(anonymous).then(pl.lit("s:") + session).otherwise(user).alias("user_id"),
        col["itemid"].str.strip_chars().alias("item_id"),
        (day.cast(pl.Datetime("us")) + pl.duration(milliseconds=offset))
        .dt.replace_time_zone("UTC")
        .alias("timestamp"),
        pl.lit(event_type).alias("event_type"),
        session.alias("session_id"),
        *extras,
    )


def read_diginetica(path: Path, *, columns: Mapping[str, str] | None = None) -> RawEvents:
    """Read the DIGINETICA purchases (and views, categories) of a folder (see module docs)."""
    if not path.exists():
        raise DataValidationError(f"{path}: no such file or folder (format 'diginetica').")
    folder = path if path.is_dir() else path.parent
    purchases = folder / _PURCHASES
    if not purchases.is_file():
        raise DataValidationError(
            f"{path}: format 'diginetica' needs {_PURCHASES} in {folder} (found "
            f"{', '.join(sorted(p.name for p in folder.iterdir())) or 'nothing'})."
        )
    views = path if path.is_file() and path.name in _VIEWS else None
    views = views or next((folder / n for n in _VIEWS if (folder / n).is_file()), None)
    source = str(path)
    parts = []
    if views is not None:
        parts.append(_read_part(views, event_type="view", keys=_VIEW_KEYS, source=source))
    parts.append(_read_part(purchases, event_type="purchase", keys=_PURCHASE_KEYS, source=source))
    frame = pl.concat(parts, how="diagonal_relaxed")
    categories = folder / _CATEGORIES
    if categories.is_file():
        frame = join_categories(frame, _read_categories(categories))
    return RawEvents(frame, source, sort_by=())


def _read_categories(path: Path) -> pl.DataFrame:
    """``item_id``, ``category_id`` per line (the first line of an item counts)."""
    header, _ = read_header(path, str(path), ";")
    check_header(header, ("itemId", "categoryId"), source=str(path), fmt="diginetica")
    try:
        table = pl.read_csv(
            path, separator=";", infer_schema=False, columns=["itemId", "categoryId"]
        )
    except (pl.exceptions.PolarsError, OSError) as error:
        raise read_failure(str(path), "diginetica", error) from None
    return table.select(
        pl.col("itemId").alias("item_id"),
        pl.col("categoryId").str.strip_chars().alias("category_id"),
    )


FORMAT = FormatSpec(
    name="diginetica",
    description="DIGINETICA folder: train-purchases.csv (+ item views, product-categories); "
    "anonymous sessions become users 's:<session>'.",
    read=read_diginetica,
)
