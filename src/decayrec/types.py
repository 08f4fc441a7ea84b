"""Shared type aliases.

Raw ids are what users see (strings in a log file); indices are dense ``int32`` positions used
inside models. Durations are :class:`datetime.timedelta`; instants are timezone-aware
:class:`datetime.datetime` (naive ones are read as UTC).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "FloatArray",
    "IndexArray",
    "Instant",
    "ItemId",
    "KernelName",
    "StrPath",
    "UserId",
]

UserId: TypeAlias = str | int
ItemId: TypeAlias = str | int
StrPath: TypeAlias = str | os.PathLike[str]
FloatArray: TypeAlias = npt.NDArray[np.float64]
IndexArray: TypeAlias = npt.NDArray[np.int32]
KernelName: TypeAlias = Literal["exponential", "linear", "power", "logarithmic"]
#: One instant for a whole batch, or one per requested user (datetime64[us] or Unix seconds).
Instant: TypeAlias = datetime | npt.NDArray[np.datetime64] | npt.NDArray[np.float64]
