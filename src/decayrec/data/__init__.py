"""Event logs: the schema, loading and cleaning of public and shop formats, and splits.

Examples
--------
>>> from decayrec.data import CleaningConfig, load_events
>>> CleaningConfig().drop_duplicates
True
"""

from __future__ import annotations

from decayrec.data.clean import (
    DROP_REASONS,
    CleaningConfig,
    CleaningReport,
    clean_events,
)
from decayrec.data.formats import FORMATS, FormatSpec, get_format
from decayrec.data.load import load_events
from decayrec.data.schema import (
    DEFAULT_EVENT_WEIGHTS,
    EVENT_TYPE_ALIASES,
    EventLog,
    EventType,
    EventWeights,
    Vocabulary,
    parse_event_type,
)
from decayrec.data.split import Split, leave_last_out, rolling_temporal_splits, temporal_split

__all__ = [
    "DEFAULT_EVENT_WEIGHTS",
    "DROP_REASONS",
    "EVENT_TYPE_ALIASES",
    "FORMATS",
    "CleaningConfig",
    "CleaningReport",
    "EventLog",
    "EventType",
    "EventWeights",
    "FormatSpec",
    "Split",
    "Vocabulary",
    "clean_events",
    "get_format",
    "leave_last_out",
    "load_events",
    "parse_event_type",
    "rolling_temporal_splits",
    "temporal_split",
]
