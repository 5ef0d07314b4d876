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
