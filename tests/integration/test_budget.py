"""The per-connection rate budget shared by every Lambda (a bucket row in DynamoDB)."""

import pytest

from booksync.engine.budget import RATES, Budget
from booksync.errors import SyncFailure


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0
        self.slept = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept += seconds
        self.now += seconds


@pytest.fixture
def clock(stack_env):
    return Clock()


def test_a_burst_past_the_budget_backs_off_with_the_wait_before_the_provider_says_429(clock):
    budget = Budget("xero", "c1", clock=clock, sleep=clock.sleep)
    for _ in range(int(RATES["xero"]["minute"].burst)):
        budget.take()
    with pytest.raises(SyncFailure) as info:
        Budget("xero", "c1", clock=clock, sleep=clock.sleep, max_wait=0).take()
    assert info.value.code == "xero.rate_limited"
    assert 0 < info.value.retry_after <= 60 / 55 + 0.01


def test_two_lambdas_share_one_bucket(clock):
    first = Budget("qbt", "c1", clock=clock, sleep=clock.sleep, max_wait=0)
    second = Budget("qbt", "c1", clock=clock, sleep=clock.sleep, max_wait=0)
    burst = int(RATES["qbt"]["minute"].burst)
    for i in range(burst):
        (first if i % 2 else second).take()
    with pytest.raises(SyncFailure):
        first.take()


def test_the_bucket_refills_at_the_providers_rate(clock):
    budget = Budget("qbo", "c1", clock=clock, sleep=clock.sleep, max_wait=0)
    budget.take(int(RATES["qbo"]["minute"].burst))
    with pytest.raises(SyncFailure):
        budget.take(7)
    clock.now += 1.0  # QBO refills 7.7 a second (462 a minute)
    budget.take(7)


def test_a_short_wait_is_slept_in_the_lambda_a_long_one_goes_back_to_the_queue(clock):
    budget = Budget("xero", "c2", clock=clock, sleep=clock.sleep, max_wait=2.0)
    for _ in range(int(RATES["xero"]["minute"].burst)):
        budget.take()
    budget.take()  # about a second: waited here
    assert 0.5 < clock.slept < 2.0


def test_connections_have_their_own_buckets(clock):
    Budget("xero", "a", clock=clock, max_wait=0).take(int(RATES["xero"]["minute"].burst))
    Budget("xero", "b", clock=clock, max_wait=0).take()


def test_a_worker_paces_a_bulk_sync_to_the_budget_until_its_deadline(clock):
    # A worker with a minute and a half left sends QBO batches of 30 back to back
    worker = Budget("qbo", "c3", clock=clock, sleep=clock.sleep, deadline=clock.now + 90)
    for _ in range(10):
        worker.take(30)  # each refill (about 4 s) is waited for, not thrown back
    assert 30 < clock.slept < 40  # 270 of the 300 at 7.7 a second
    # near its deadline the worker no longer waits: the message goes back to its queue
    worker.deadline = clock.now + 1
    with pytest.raises(SyncFailure) as info:
        worker.take(30)
    assert info.value.code == "qbo.throttled"
    assert info.value.retry_after > 1


def test_past_its_deadline_a_worker_starts_no_call_even_with_tokens_left(clock):
    # A worker whose time is spent: a call now could answer after the function's timeout
    worker = Budget("qbo", "c4", clock=clock, sleep=clock.sleep, deadline=clock.now - 0.1)
    with pytest.raises(SyncFailure) as info:
        worker.take()
    assert info.value.code == "qbo.throttled"  # back to the queue, not a sync error
    # and the bucket is untouched for the next run
    Budget("qbo", "c4", clock=clock, max_wait=0).take(int(RATES["qbo"]["minute"].burst))


def test_qbo_single_calls_keep_under_ten_a_second_and_a_batch_is_one_of_them(clock):
    # QBO allows 10 requests a second per company, a batch counting as one request
    # (and each of its items against the 500 a minute)
    budget = Budget("qbo", "c5", clock=clock, sleep=clock.sleep, max_wait=0)
    for _ in range(3):
        budget.take(1)
    with pytest.raises(SyncFailure) as info:
        budget.take(1)  # past the burst, the next request waits for the refill
    assert info.value.code == "qbo.throttled"
    assert info.value.retry_after <= 1 / RATES["qbo"]["second"].per_second + 0.01
    clock.now += 1.0
    budget.take(20)  # a batch of 20 items: one request of the second, 20 of the minute


def test_qbo_calls_as_fast_as_the_budget_allows_never_pass_a_limit_in_any_window(clock):
    # a worker reads as fast as it may (a lost create's look-ups), then writes batches:
    # however QBO slides its windows, no second holds 11 requests and no minute 501 items
    budget = Budget("qbo", "c6", clock=clock, sleep=clock.sleep, max_wait=60)
    calls = []
    for i in range(400):
        cost = 30 if i % 4 == 0 else 1
        budget.take(cost)
        calls.append((clock.now, cost))
        clock.now += 0.001  # the call itself
    times = [t for t, _ in calls]
    for start in times:
        assert sum(1 for t in times if start <= t < start + 1.0) <= 10
        assert sum(c for t, c in calls if start <= t < start + 60.0) <= 500


def test_a_hold_stops_every_worker_of_the_connection_until_it_ends(clock):
    # Given the provider asked for an hour's wait (a Xero day limit nearly spent)
    first = Budget("xero", "c6", clock=clock, sleep=clock.sleep, max_wait=0)
    first.hold(3600, "xero.day_limit", "X-DayLimit-Remaining: 40")
    # Then another worker's call is refused at once, with the time left and the reason
    with pytest.raises(SyncFailure) as info:
        Budget("xero", "c6", clock=clock, sleep=clock.sleep, max_wait=0).take()
    assert info.value.code == "xero.day_limit"
    assert 3599 <= info.value.retry_after <= 3600
    assert "X-DayLimit-Remaining" in info.value.provider_message
    # And after the hour the budget spends again
    clock.now += 3601
    first.take()


def test_a_worker_waits_out_a_hold_that_ends_before_its_deadline(clock):
    # Given a connection held for a minute (QBO answered 429 to another worker)
    Budget("qbo", "c9", clock=clock, sleep=clock.sleep).hold(60, "qbo.throttled", "429")
    # When a worker with two minutes left calls: it waits the hold out and calls, instead
    # of sending its message back to spend a receive on it
    Budget("qbo", "c9", clock=clock, sleep=clock.sleep, deadline=clock.now + 120).take()
    assert 60 <= clock.slept <= 61
    # and a worker whose deadline comes first is refused at once, with the wait
    Budget("qbo", "c9", clock=clock, sleep=clock.sleep).hold(60, "qbo.throttled", "429")
    slept = clock.slept
    with pytest.raises(SyncFailure) as info:
        Budget("qbo", "c9", clock=clock, sleep=clock.sleep, deadline=clock.now + 30).take()
    assert info.value.code == "qbo.throttled"
    assert clock.slept == slept


def test_lambdas_that_meet_on_the_bucket_row_look_again_instead_of_giving_up(clock, monkeypatch):
    # four workers of one connection write the row at once: the losers pause a random
    # moment and look again while they may wait, instead of sending the message back to
    # burn a receive (with MaximumConcurrency 10, that dead-lettered payments)
    from booksync.engine import budget as budget_module

    real = budget_module.leases.write_bucket
    lost = {"n": 0}

    def busy_row(*args, **kwargs):
        if lost["n"] < 30:  # another Lambda's write wins, thirty times over
            lost["n"] += 1
            return False
        return real(*args, **kwargs)

    monkeypatch.setattr(budget_module.leases, "write_bucket", busy_row)
    Budget("xero", "c7", clock=clock, sleep=clock.sleep, max_wait=10).take()
    assert lost["n"] == 30
    assert clock.slept < 30 * 0.15 + 0.01  # short random pauses only


def test_a_hold_the_row_never_takes_is_given_up_after_a_few_looks(clock, monkeypatch):
    # the row taken by other workers every time: the hold is not worth a long stay (the
    # next call hears the provider's refusal again and holds then)
    from booksync.engine import budget as budget_module

    looks = {"n": 0}

    def busy_row(*args, **kwargs):
        looks["n"] += 1
        return False

    monkeypatch.setattr(budget_module.leases, "write_bucket", busy_row)
    Budget("xero", "c8", clock=clock, sleep=clock.sleep).hold(600, "xero.rate_limited", "429")
    assert looks["n"] == budget_module.HOLD_ATTEMPTS
    assert clock.slept < budget_module.HOLD_ATTEMPTS * 0.15 + 0.01


def test_workers_waiting_for_the_same_tokens_book_their_turns_and_read_the_row_once(
    clock, monkeypatch
):
    # Three workers of one QBO connection want a batch of 30 at the same moment: the
    # first spends the burst, the others book the next refills in turn and sleep until
    # then, each reading the bucket row once (waking together to look again cost a
    # Leases read per record more at 5,000 records than at 1,000)
    from booksync.engine import budget as budget_module

    reads = {"n": 0}
    real = budget_module.leases.bucket

    def counted(pk):
        reads["n"] += 1
        return real(pk)

    monkeypatch.setattr(budget_module.leases, "bucket", counted)
    slept = []
    for _ in range(3):
        Budget("qbo", "c10", clock=clock, sleep=slept.append, deadline=clock.now + 60).take(30)
    assert reads["n"] == 3
    refill = 30 / RATES["qbo"]["minute"].per_second
    assert slept[0] == pytest.approx(refill, abs=0.01)  # the first took the burst at once
    assert slept[1] == pytest.approx(2 * refill, abs=0.01)
    # a fourth whose turn comes after its deadline books nothing and goes back to its queue
    with pytest.raises(SyncFailure) as info:
        Budget("qbo", "c10", clock=clock, sleep=slept.append, deadline=clock.now + 5).take(30)
    assert info.value.retry_after == pytest.approx(3 * refill, abs=0.01)
    clock.now += 3 * refill  # the booked calls are made; the next turn is now
    Budget("qbo", "c10", clock=clock, sleep=slept.append, max_wait=0).take(30)


def test_a_throttle_with_no_named_wait_holds_briefly_and_doubles_only_while_it_goes_on(clock):
    # QBO's 429 names no wait; its window is a minute, but the budget keeps booksync under
    # its published limits, so most throttles pass (requests at once): hold 5 s first
    from booksync.engine.budget import FIRST_THROTTLE_HOLD

    budget = Budget("qbo", "c11", clock=clock, sleep=clock.sleep, max_wait=0)

    def throttled():
        return budget.hold(60, "qbo.throttled", "ThrottleExceeded", named=False)

    assert throttled() == FIRST_THROTTLE_HOLD
    with pytest.raises(SyncFailure) as info:
        budget.take()  # every worker of the connection waits it out
    assert info.value.retry_after == pytest.approx(FIRST_THROTTLE_HOLD)
    # a call already on its way when the hold began hears 429 too: the same hold
    clock.now += 1
    assert throttled() == pytest.approx(FIRST_THROTTLE_HOLD - 1)
    ends = clock.now + FIRST_THROTTLE_HOLD - 1
    # throttled again as soon as the hold ends: the window may be spent, so it doubles
    for expected in (10, 20, 40, 60, 60):
        clock.now = ends + 0.5
        assert throttled() == expected
        ends = clock.now + expected
    # a throttle long after the last hold ended is a passing one again
    clock.now += 60 + 30
    assert throttled() == FIRST_THROTTLE_HOLD
    # a wait the provider named (Xero's Retry-After, a day limit) is held as named
    clock.now += 30
    assert budget.hold(600, "xero.rate_limited", "Retry-After: 600") == 600


def test_a_worker_woken_late_for_its_turn_books_a_new_one_instead_of_calling_late(clock):
    # Given a worker booked the turn after a spent burst, and its sleep overran by 2 s (a
    # busy CPU): calling now, its batch would land beside the ones booked after it
    overran = []

    def late_sleep(seconds):
        clock.now += seconds + (2.0 if not overran else 0.0)
        overran.append(seconds)

    Budget("qbo", "c12", clock=clock, max_wait=0).take(30)
    worker = Budget("qbo", "c12", clock=clock, sleep=late_sleep, deadline=clock.now + 60)
    worker.take(30)
    # Then it booked a second turn and slept again before calling
    assert len(overran) == 2
