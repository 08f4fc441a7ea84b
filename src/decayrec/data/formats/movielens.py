"""MovieLens ratings (GroupLens), ``format="movielens"``.

Every rating is an event of type ``rating`` with value = the rating. Three layouts, recognised
by the first line of the ratings file:

* ``ratings.csv`` (ml-latest, ml-latest-small, 20M, 25M): header
  ``userId,movieId,rating,timestamp``; the category is the first genre of ``movies.csv``
  (``movieId,title,genres``, genres ``|``-separated) from the same folder, when present;
* ``ratings.dat`` (1M, 10M): ``UserID::MovieID::Rating::Timestamp``; categories from
  ``movies.dat`` (``MovieID::Title::Genres``);
* ``u.data`` (100K): tab-separated ``user item rating timestamp``, no header; categories from
  ``u.item`` (the first of its 19 genre flags that is set).

``path`` is the ratings file or its folder (then ``ratings.csv``, ``ratings.dat`` or
``u.data`` is read, the first found). ``(no genres listed)`` reads as no category.
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
    first_line,
    join_categories,
    read_delimited,
    read_failure,
    read_mapped,
    require_file,
)
from decayrec.data.formats.csv import read_header
from decayrec.errors import DataValidationError

__all__ = ["FORMAT", "ML100K_GENRES", "read_movielens"]

_RATING_FILES: Final = ("ratings.csv", "ratings.dat", "u.data")
#: The genre flags of ML-100K's ``u.item``, in column order (as listed in its ``u.genre``).
ML100K_GENRES: Final = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
_NO_GENRE: Final = "(no genres listed)"
_CSV_COLUMNS: Final = {
    "user_id": "userId",
    "item_id": "movieId",
    "value": "rating",
    "timestamp": "timestamp",
}


def _lines(path: Path, source: str) -> pl.DataFrame:
    """Each line of a text file as one String column ``line``, with ``_row``."""
    try:
        return (
            pl.scan_csv(
                path,
                has_header=False,
                separator="\x1f",
                quote_char=None,
                schema={"line": pl.String},
                encoding="utf8-lossy",
                truncate_ragged_lines=True,
            )
            .with_row_index("_row")
            .collect()
        )
    except (pl.exceptions.PolarsError, OSError) as error:
        raise read_failure(source, "movielens", error) from None


def _first_genre(genres: pl.Expr) -> pl.Expr:
    first = genres.str.split("|").list.first().str.strip_chars()
    return pl.when(first.is_in([_NO_GENRE, ""]).not_()).then(first)


def _read_csv(path: Path, source: str) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    header, _ = read_header(path, source, ",")
    check_header(header, list(_CSV_COLUMNS.values()), source=source, fmt="movielens")
    frame = read_mapped(path, _CSV_COLUMNS, header=header, source=source, fmt="movielens")
    movies_path = path.parent / "movies.csv"
    movies = None
    if movies_path.is_file():
        try:
            table = pl.read_csv(movies_path, infer_schema=False, columns=["movieId", "genres"])
        except (pl.exceptions.PolarsError, OSError) as error:
            raise read_failure(str(movies_path), "movielens", error) from None
        movies = table.select(
            pl.col("movieId").alias("item_id"), _first_genre(pl.col("genres")).alias("category_id")
        )
    return frame, movies


def _read_dat(path: Path, source: str) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    parts = pl.col("line").str.split("::")
    frame = _lines(path, source).select(
        "_row",
        (parts.list.len() > 4).alias("_malformed"),
        *(
            parts.list.get(i, null_on_oob=True).alias(n)
            for i, n in enumerate(("user_id", "item_id", "value", "timestamp"))
        ),
    )
    movies_path = path.parent / "movies.dat"
    movies = None
    if movies_path.is_file():
        movies = _lines(movies_path, str(movies_path)).select(
            parts.list.first().alias("item_id"),
            _first_genre(parts.list.last()).alias("category_id"),
        )
    return frame, movies


def _read_udata(path: Path, source: str) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    names = ("user_id", "item_id", "value", "timestamp")
    frame = read_delimited(
        path,
        source=source,
        fmt="movielens",
        names=names,
        select=names,
        separator="\t",
        has_header=False,
    )
    items_path = path.parent / "u.item"
    movies = None
    if items_path.is_file():
        flags = [f"g{i}" for i in range(len(ML100K_GENRES))]
        schema = {n: pl.String for n in ("item_id", "title", "date", "video", "url", *flags)}
        try:
            table = pl.read_csv(
                items_path,
                has_header=False,
                separator="|",
                quote_char=None,
                schema=schema,
                encoding="utf8-lossy",
                truncate_ragged_lines=True,
            )
        except (pl.exceptions.PolarsError, OSError) as error:
            raise read_failure(str(items_path), "movielens", error) from None
        genre = pl.coalesce(
            pl.when(pl.col(flag) == "1").then(pl.lit(name))
            for flag, name in zip(flags, ML100K_GENRES, strict=True)
        )
        movies = table.select("item_id", genre.alias("category_id"))
    return frame, movies


def read_movielens(path: Path, *, columns: Mapping[str, str] | None = None) -> RawEvents:
    """Read MovieLens ratings from a file or folder (see the module docstring)."""
    source = str(path)
    require_file(path, "movielens", folder_ok=True)
    if path.is_dir():
        found = next((path / n for n in _RATING_FILES if (path / n).is_file()), None)
        if found is None:
            raise DataValidationError(
                f"{path}: format 'movielens' needs {', '.join(_RATING_FILES[:-1])} or "
                f"{_RATING_FILES[-1]} in the folder."
            )
        path = found
    line = first_line(path, source)
    if "::" in line:
        frame, movies = _read_dat(path, source)
    elif "\t" in line:
        frame, movies = _read_udata(path, source)
    else:
        frame, movies = _read_csv(path, source)
    frame = frame.with_columns(
        pl.col("item_id").str.strip_chars(), pl.lit("rating").alias("event_type")
    )
    if movies is not None:
        frame = join_categories(frame, movies)
    return RawEvents(frame, source)


FORMAT = FormatSpec(
    name="movielens",
    description="MovieLens ratings.csv / ratings.dat / u.data (file or folder); value = "
    "rating, category = first genre.",
    read=read_movielens,
)
