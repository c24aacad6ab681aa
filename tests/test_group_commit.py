"""Group commit (handlers.group_commit): batching, isolation of a bad item, deadlines, cancelled callers."""

from __future__ import annotations

import asyncio

import pytest

from handlers.group_commit import GroupCommit


class Store:
    """A write function that records every batch it is given and what it stored."""

    def __init__(self, delay: float = 0.05, bad: set = frozenset()) -> None:
        self.batches: list[list] = []
        self.stored: list = []
        self.delay, self.bad = delay, bad

    async def write(self, items: list) -> list:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay)
        if self.bad & set(items):
            raise ValueError(f"bad item among {items}")
        self.stored.extend(items)
        return [f"stored {item}" for item in items]


async def test_writes_arriving_during_a_transaction_share_the_next_one():
    store = Store()
    writer = GroupCommit(store.write)
    first = asyncio.create_task(writer.submit("a"))
    await asyncio.sleep(0.01)  # "a" is being written alone
    rest = await asyncio.gather(*(writer.submit(x) for x in "bcd"))
    assert await first == "stored a"
    assert rest == ["stored b", "stored c", "stored d"]
    assert store.batches == [["a"], ["b", "c", "d"]]


async def test_a_bad_item_fails_alone_and_the_others_are_stored():
    store = Store(bad={"x"})
    writer = GroupCommit(store.write)
    blocker = asyncio.create_task(writer.submit("a"))
    await asyncio.sleep(0.01)
    results = await asyncio.gather(*(writer.submit(x) for x in ("b", "x", "c")), return_exceptions=True)
    await blocker
    assert results[0] == "stored b" and results[2] == "stored c"
    assert isinstance(results[1], ValueError)
    assert sorted(store.stored) == ["a", "b", "c"]


async def test_an_item_whose_time_ran_out_while_waiting_is_never_written():
    store = Store(delay=0.2)
    writer = GroupCommit(store.write)
    blocker = asyncio.create_task(writer.submit("a"))
    await asyncio.sleep(0.01)
    with pytest.raises(asyncio.TimeoutError):
        await writer.submit("late", within=0.05)
    await blocker
    await asyncio.sleep(0.3)
    assert "late" not in store.stored and all("late" not in batch for batch in store.batches)


async def test_a_write_that_outlasts_the_deadline_is_abandoned():
    store = Store(delay=0.5)
    writer = GroupCommit(store.write)
    with pytest.raises(asyncio.TimeoutError):
        await writer.submit("slow", within=0.1)
    await asyncio.sleep(0.6)
    assert store.stored == []  # cancelled inside the write: a real transaction rolls back here


async def test_a_cancelled_caller_is_skipped():
    store = Store()
    writer = GroupCommit(store.write)
    blocker = asyncio.create_task(writer.submit("a"))
    await asyncio.sleep(0.01)
    gone = asyncio.create_task(writer.submit("gone"))
    await asyncio.sleep(0.001)
    gone.cancel()
    assert await writer.submit("kept") == "stored kept"
    await blocker
    assert store.stored == ["a", "kept"]


# ---- gathering a burst: requests still being read join the batch (handlers.group_commit._gather) ----------

async def test_a_burst_of_requests_is_written_in_one_transaction():
    from bot.ingress import Ingress
    ingress, store = Ingress(), Store(delay=0.01)
    writer = GroupCommit(store.write, ingress=ingress, gather_seconds=1.0)

    async def request(item, reading):
        with ingress.request():
            await asyncio.sleep(reading)  # parsing and checking the form before it is stored
            return await writer.submit(item)

    loop = asyncio.get_running_loop()
    started = loop.time()
    answers = await asyncio.gather(*(request(x, 0.01 * i) for i, x in enumerate("abcde")))
    assert answers == [f"stored {x}" for x in "abcde"]
    assert store.batches == [list("abcde")]  # without gathering: ["a"], then the rest
    assert loop.time() - started < 0.5  # the last one joining ends the wait, not the bound


async def test_a_request_that_stores_nothing_holds_a_batch_back_only_briefly():
    from bot.ingress import Ingress
    ingress, store = Ingress(), Store(delay=0.01)
    writer = GroupCommit(store.write, ingress=ingress, gather_seconds=0.1)
    slow_answered = asyncio.Event()

    async def slow_request():  # e.g. a follow-up form doing its own work for a while
        with ingress.request():
            await slow_answered.wait()

    slow = asyncio.create_task(slow_request())
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with ingress.request():
        assert await writer.submit("a") == "stored a"
    waited = loop.time() - started
    slow_answered.set()
    await slow
    assert 0.08 <= waited < 0.4


async def test_a_request_answered_without_storing_ends_the_wait_at_once():
    from bot.ingress import Ingress
    ingress, store = Ingress(), Store(delay=0.01)
    writer = GroupCommit(store.write, ingress=ingress, gather_seconds=5.0)

    async def other_request():  # a slash command that only opens a modal
        with ingress.request():
            await asyncio.sleep(0.05)

    other = asyncio.create_task(other_request())
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with ingress.request():
        assert await writer.submit("a") == "stored a"
    await other
    assert loop.time() - started < 1.0  # not the 5 s bound


async def test_a_request_whose_handler_starts_a_few_loop_turns_later_joins_the_batch():
    """A burst's next request is already readable when the first one waits: its handler starts within a few
    turns of the loop, and it joins the same transaction."""
    from bot.ingress import Ingress
    ingress, store = Ingress(), Store(delay=0.01)
    writer = GroupCommit(store.write, ingress=ingress, gather_seconds=5.0)

    async def request(item, turns):
        for _ in range(turns):  # select, read, the handler's task: the loop turns before a handler starts
            await asyncio.sleep(0)
        with ingress.request():
            return await writer.submit(item)

    answers = await asyncio.gather(request("a", 0), request("b", 3), request("c", 6))
    assert answers == ["stored a", "stored b", "stored c"]
    assert store.batches == [["a", "b", "c"]]


async def test_with_everyone_waiting_and_nothing_coming_the_batch_goes_at_once():
    """No fixed wait for more: a quiet loop means nothing else is on its way."""
    from bot.ingress import Ingress
    ingress, store = Ingress(), Store(delay=0)
    writer = GroupCommit(store.write, ingress=ingress, gather_seconds=5.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with ingress.request():
        assert await writer.submit("a") == "stored a"
    assert loop.time() - started < 0.02  # a few turns of an idle loop, not the 5 s bound
