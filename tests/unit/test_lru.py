from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.lru import Lru


def test_a_hit_makes_an_entry_the_last_to_be_evicted() -> None:
    cache: Lru[str, int] = Lru(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)  # evicts b, the least recently used
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2


def test_forget_and_replace() -> None:
    cache: Lru[str, int] = Lru(2)
    cache.put("a", 1)
    cache.put("a", 2)
    assert cache.get("a") == 2
    cache.forget("a")
    cache.forget("never-there")
    assert cache.get("a") is None
    assert len(cache) == 0


def test_the_bound_holds_when_threads_share_it() -> None:
    cache: Lru[int, int] = Lru(50)

    def churn(offset: int) -> None:
        for n in range(2_000):
            cache.put(offset + n % 120, n)
            cache.get(offset + (n * 7) % 120)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(churn, (0, 40, 80, 120)))
    assert len(cache) == 50


def test_it_needs_room_for_one_entry() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Lru(0)


@pytest.mark.parametrize("half", [{"weigh": len}, {"max_weight": 10}])
def test_a_weight_needs_its_bound_and_a_bound_its_weight(half) -> None:
    with pytest.raises(ValueError, match="go together"):
        Lru(100, **half)


def test_weighed_values_are_evicted_to_stay_within_the_weight() -> None:
    cache: Lru[str, list[int]] = Lru(100, weigh=len, max_weight=10)
    cache.put("a", [0] * 4)
    cache.put("b", [0] * 4)
    cache.put("a", [0] * 2)  # replaced: weighs its new weight
    cache.put("c", [0] * 4)
    assert [cache.get(k) is not None for k in "abc"] == [True, True, True]  # 2 + 4 + 4
    cache.put("d", [0] * 3)  # 13: the least recently used go until it fits
    assert [cache.get(k) is not None for k in "abcd"] == [False, False, True, True]
    cache.forget("c")
    cache.put("e", [0] * 7)  # 3 + 7: fits once the forgotten entry's weight is gone
    assert [cache.get(k) is not None for k in "de"] == [True, True]
    cache.put("huge", [0] * 50)  # heavier than the whole budget: kept alone, the newest
    assert len(cache) == 1 and cache.get("huge") is not None


def test_the_bucket_cache_weighs_documents_by_the_uplinks_of_their_hour() -> None:
    from shared.telemetry.series import BucketCache

    cache = BucketCache(max_entries=100, max_uplinks=1000)
    chatty = {"open": {"q": {}, "up": {str(n): {} for n in range(900)}}}
    cache.put(("p", "quiet"), {"open": {"q": {}, "up": {"1": {}}}})
    cache.put(("p", "chatty"), chatty)
    cache.put(("p", "hour"), {"q": {}, "up": {str(n): {} for n in range(200)}})
    assert cache.get(("p", "quiet")) is None and cache.get(("p", "chatty")) is None
    assert cache.get(("p", "hour")) is not None
