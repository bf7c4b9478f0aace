"""The per-account token bucket's arithmetic, with an injected clock (nothing waits, nothing is timed)."""

from __future__ import annotations

import pytest

from verification.errors import InputError
from verification.fleet.pacing import DEFAULT_RATE, Pacer, TokenBucket, default_rate, parse_rate


class FakeClock:
    """A clock that moves only when told to (or when the bucket 'sleeps')."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_burst_goes_out_at_once_then_requests_are_spaced_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock, sleep=clock.sleep)
    delays = [bucket.reserve() for _ in range(6)]
    # Three tokens in the bucket; then each request waits for the next token, half a second apart.
    assert delays == pytest.approx([0, 0, 0, 0.5, 1.0, 1.5])


def test_the_long_run_rate_never_exceeds_the_limit() -> None:
    """100 requests through acquire(): the (fake) time they took is what the rate allows, no less."""
    clock = FakeClock()
    bucket = TokenBucket(rate=5.0, burst=4, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(100):
        bucket.acquire()
    assert clock.now - start == pytest.approx((100 - 4) / 5.0)
    assert bucket.waited == pytest.approx(sum(clock.slept))


def test_idle_time_refills_up_to_the_burst_only() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=2, clock=clock, sleep=clock.sleep)
    assert [bucket.reserve() for _ in range(2)] == [0, 0]
    clock.now += 60  # a long pause refills two tokens, not sixty
    assert [bucket.reserve() for _ in range(3)] == pytest.approx([0, 0, 1.0])


def test_accounts_have_their_own_buckets_and_zero_turns_pacing_off() -> None:
    pacer = Pacer(3.0)
    first, again, other = pacer.bucket("111111111111"), pacer.bucket("111111111111"), pacer.bucket("222222222222")
    assert first is again and first is not other
    assert Pacer(0).bucket("111111111111") is None and not Pacer(0).enabled


@pytest.mark.parametrize(
    ("url", "rate"),
    [
        (None, DEFAULT_RATE),
        ("https://iam.amazonaws.com", DEFAULT_RATE),
        ("http://127.0.0.1:5000", 0.0),
        ("http://localhost:5000", 0.0),
        ("http://[::1]:5000", 0.0),
    ],
)
def test_the_default_pace_is_off_only_for_a_loopback_endpoint(url: str | None, rate: float) -> None:
    assert default_rate(url) == rate


@pytest.mark.parametrize("value", ["-1", "fast", "inf", "nan"])
def test_a_bad_max_rate_is_one_line(value: str) -> None:
    with pytest.raises(InputError, match=r"--max-rate .* is not a number of requests per second"):
        parse_rate(value)


def test_max_rate_accepts_fractions_and_zero() -> None:
    assert parse_rate("0.5") == 0.5 and parse_rate("0") == 0.0
