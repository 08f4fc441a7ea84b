"""Request and response bodies of the HTTP API (pydantic; they make the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from decayrec.data.schema import parse_event_type
from decayrec.errors import InvalidParameterError

__all__ = [
    "CategoryInterestOut",
    "EventIn",
    "EventsIn",
    "EventsOut",
    "InterestsOut",
    "RecommendationsOut",
    "RecommendedItem",
    "RerankIn",
    "RerankItemIn",
    "RerankItemOut",
    "RerankOut",
    "SegmentOut",
    "SegmentUser",
]

_ID = Field(min_length=1, max_length=256)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventIn(_Strict):
    """One behaviour event, in the event log's schema."""

    event_id: str = Field(min_length=1, max_length=256, description="Idempotency key.")
    user_id: str = _ID
    item_id: str = _ID
    category_id: str | None = Field(default=None, min_length=1, max_length=256)
    event_type: str = Field(description="view, favourite, cart, purchase, rating or an alias.")
    timestamp: datetime = Field(description="ISO-8601 with a time zone, or Unix seconds.")
    value: float | None = None
    session_id: str | None = Field(default=None, max_length=256)

    @field_validator("event_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        try:
            return parse_event_type(value).label
        except InvalidParameterError as error:
            raise ValueError(str(error)) from None

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("timestamp needs a time zone (e.g. 2024-05-01T10:00:00Z)")
        return value


class EventsIn(_Strict):
    events: list[EventIn] = Field(min_length=1)


class EventsOut(BaseModel):
    accepted: int
    duplicate: int
    stored: int = Field(
        description="Store events this instance's state holds after this batch (with several "
        "instances on one Redis store, the others' events count once this instance reloads)."
    )


class RecommendedItem(BaseModel):
    item_id: str
    score: float
    category_id: str | None
    explanation: dict[str, float] | None = None


class RecommendationsOut(BaseModel):
    user_id: str
    at: datetime
    fallback: bool = Field(description="True: the user is unknown; popularity is served.")
    items: list[RecommendedItem]


class CategoryInterestOut(BaseModel):
    category_id: str | None
    interest: float
    share: float
    forecast_interest: float
    forecast_share: float
    half_life_seconds: float


class InterestsOut(BaseModel):
    user_id: str
    at: datetime
    horizon_seconds: float
    categories: list[CategoryInterestOut]


class RerankItemIn(_Strict):
    item_id: str = _ID
    score: float | None = Field(default=None, description="Base relevance (higher is better).")


class RerankIn(_Strict):
    user_id: str = _ID
    items: list[RerankItemIn] = Field(min_length=1, max_length=10_000)
    alpha: float = Field(default=0.5, ge=0.0, le=1.0, description="Weight of personal interest.")
    at: datetime | None = None


class RerankItemOut(BaseModel):
    item_id: str
    base: float
    personal: float
    score: float


class RerankOut(BaseModel):
    user_id: str
    at: datetime
    fallback: bool
    items: list[RerankItemOut]


class SegmentUser(BaseModel):
    user_id: str
    share: float
    interest: float


class SegmentOut(BaseModel):
    category_id: str | None
    at: datetime
    fading_within_seconds: float | None
    users: list[SegmentUser]
