from booksync.engine.worker import MAX_BACKOFF_SECONDS, backoff_seconds


def test_backoff_honours_the_providers_retry_after():
    assert backoff_seconds(1, retry_after=37.2) == 38


def test_backoff_grows_with_attempts_and_is_capped():
    first = [backoff_seconds(1, None) for _ in range(50)]
    later = [backoff_seconds(8, None) for _ in range(50)]
    assert max(first) <= 2
    assert min(later) >= 128
    assert max(backoff_seconds(30, None) for _ in range(50)) <= MAX_BACKOFF_SECONDS
