"""The store URL: a Redis key prefix travels in the query and is taken out before connecting."""

from __future__ import annotations

import pytest

from decayrec.errors import InvalidParameterError
from decayrec.serve.store.redis import split_prefix


def test_the_prefix_is_read_from_the_query_and_removed_from_the_url() -> None:
    assert split_prefix("redis://h:6379/2?prefix=shop-a") == ("redis://h:6379/2", "shop-a")
    assert split_prefix("redis://h:6379/2?socket_timeout=3&prefix=shop_b.v2") == (
        "redis://h:6379/2?socket_timeout=3",
        "shop_b.v2",
    )


def test_without_a_prefix_the_url_is_kept_and_the_prefix_is_decayrec() -> None:
    assert split_prefix("redis://h:6379/0") == ("redis://h:6379/0", "decayrec")
    assert split_prefix("rediss://u:p@h:6380/1?ssl_cert_reqs=none") == (
        "rediss://u:p@h:6380/1?ssl_cert_reqs=none",
        "decayrec",
    )


@pytest.mark.parametrize(
    "url",
    [
        "redis://h/0?prefix=",
        "redis://h/0?prefix=a:b",
        "redis://h/0?prefix=a b",
        "redis://h/0?prefix=a&prefix=b",
    ],
)
def test_a_bad_prefix_is_refused_naming_it(url: str) -> None:
    with pytest.raises(InvalidParameterError, match="'prefix'"):
        split_prefix(url)


def test_the_refusal_does_not_repeat_the_urls_password() -> None:
    with pytest.raises(InvalidParameterError, match=r"Got \['a:b'\]") as refused:
        split_prefix("redis://user:s3cret@h:6379/0?prefix=a:b")
    assert "s3cret" not in str(refused.value)
