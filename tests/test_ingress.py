"""Answers first (bot/ingress.py): the outbox steps aside while requests are answered, within bounds."""

from __future__ import annotations

import asyncio

from bot.ingress import ARRIVING_SECONDS, GivingWay, Ingress


async def test_no_waiting_when_no_request_is_being_answered():
    ingress = Ingress()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await ingress.give_way(5.0)
    assert loop.time() - started < 0.05


async def test_a_send_waits_until_the_answers_are_out():
    ingress = Ingress()
    order = []

    async def answer(delay):
        with ingress.request():
            await asyncio.sleep(delay)
            order.append(f"answered after {delay}")

    async def send():
        await ingress.give_way(5.0)
        order.append("sent")

    answers = [asyncio.create_task(answer(d)) for d in (0.05, 0.1)]
    await asyncio.sleep(0)
    await asyncio.gather(send(), *answers)
    assert order == ["answered after 0.05", "answered after 0.1", "sent"]


async def test_under_steady_load_sends_are_held_back_once_and_briefly():
    ingress = Ingress()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    async def steady_load():  # overlapping requests: the count never reaches zero
        while not stop.is_set():
            with ingress.request():
                await asyncio.sleep(0.02)

    loads = [asyncio.create_task(steady_load()) for _ in range(3)]
    await asyncio.sleep(0.005)
    started = loop.time()
    await ingress.give_way(0.2)
    first = loop.time() - started
    started = loop.time()
    await ingress.give_way(0.2)  # the busy spell is older than 0.2 s: no more waiting
    second = loop.time() - started
    stop.set()
    await asyncio.gather(*loads)
    assert 0.15 <= first < 0.5
    assert second < 0.02


class Recorder:
    rates = {"chat.update": 1.0}

    def __init__(self) -> None:
        self.sent = []

    async def deliver(self, item):
        self.sent.append(item)
        return {"ok": True}


async def test_giving_way_sends_after_the_answer_and_passes_the_rest_through():
    ingress, transport = Ingress(), Recorder()
    giving_way = GivingWay(transport, ingress, at_most=5.0)
    assert giving_way.rates == {"chat.update": 1.0}
    with ingress.request():
        send = asyncio.create_task(giving_way.deliver("receipt"))
        await asyncio.sleep(0.05)
        assert transport.sent == []
    assert await send == {"ok": True}
    assert transport.sent == ["receipt"]


async def test_a_send_waits_while_a_burst_is_still_coming_in():
    """A burst is read one request at a time: between two, none may be in hand while more are on the way."""
    ingress = Ingress()
    loop = asyncio.get_running_loop()
    arrivals_over = []

    async def burst():
        for _ in range(10):
            with ingress.request():
                await asyncio.sleep(0)  # answered at once
            await asyncio.sleep(ARRIVING_SECONDS / 2)  # the next one is read a little later
        arrivals_over.append(loop.time())

    reading = asyncio.create_task(burst())
    await asyncio.sleep(0.001)
    await ingress.give_way(1.0)
    sent_at = loop.time()
    await reading
    assert sent_at >= arrivals_over[0] - ARRIVING_SECONDS / 2  # not before the last request came in
    assert sent_at - arrivals_over[0] < 0.1  # and soon after it
