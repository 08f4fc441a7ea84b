"""Readers for event log formats, and the registry that ``load_events`` looks names up in.

Generic formats (``csv``, ``parquet``, ``jsonl``) take canonical column names or a
``columns=`` mapping; presets read public data sets and shop exports in their original layouts.
Each preset lives in its own module, whose docstring describes the layout and its quirks.

Examples
--------
>>> sorted(FORMATS)[:4]
['amazon', 'csv', 'diginetica', 'jsonl']
>>> get_format("taobao").name
'taobao'
"""

from __future__ import annotations

from typing import Final

from decayrec.data.formats import (
    amazon,
    csv,
    diginetica,
    jsonl,
    movielens,
    parquet,
    rees46,
    retailrocket,
    taobao,
    yoochoose,
)
from decayrec.data.formats._base import FormatSpec, RawEvents, Reader
from decayrec.errors import InvalidParameterError

__all__ = ["FORMATS", "FormatSpec", "RawEvents", "Reader", "get_format"]

#: Every known format by name. Add a :class:`FormatSpec` here to register another one.
FORMATS: Final[dict[str, FormatSpec]] = {
    spec.name: spec
    for spec in (
        csv.FORMAT,
        parquet.FORMAT,
        jsonl.FORMAT,
        taobao.FORMAT,
        rees46.FORMAT,
        diginetica.FORMAT,
        yoochoose.FORMAT,
        movielens.FORMAT,
        amazon.FORMAT,
        retailrocket.FORMAT,
    )
}


def get_format(name: str) -> FormatSpec:
    """The registered format called ``name`` (case-insensitive).

    Raises
    ------
    InvalidParameterError
        Listing the known formats when ``name`` is not one of them.
    """
    spec = FORMATS.get(str(name).strip().lower())
    if spec is None:
        raise InvalidParameterError(
            f"The 'format' parameter of load_events must be one of {', '.join(sorted(FORMATS))}. "
            f"Got {name!r} instead."
        )
    return spec
