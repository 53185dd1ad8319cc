"""Learning-rate schedules as pure functions."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digitnet.schedules import cosine_lr, make_schedule, step_lr


def test_cosine_endpoints_and_middle():
    assert cosine_lr(0, 1.0, 100) == 1.0
    assert cosine_lr(50, 1.0, 100) == pytest.approx(0.5)
    assert cosine_lr(100, 1.0, 100) == pytest.approx(0.0)
    assert cosine_lr(500, 1.0, 100) == pytest.approx(0.0)  # clamps after the end


def test_cosine_warmup():
    assert cosine_lr(0, 1.0, 100, warmup_steps=10) == pytest.approx(0.1)
    assert cosine_lr(9, 1.0, 100, warmup_steps=10) == pytest.approx(1.0)
    assert cosine_lr(55, 1.0, 100, warmup_steps=10) == pytest.approx(0.5)


def test_cosine_decays_to_the_final_rate():
    assert cosine_lr(0, 1.0, 100, final_lr=0.2) == 1.0
    assert cosine_lr(50, 1.0, 100, final_lr=0.2) == pytest.approx(0.6)  # halfway between the two
    assert cosine_lr(100, 1.0, 100, final_lr=0.2) == pytest.approx(0.2)


def test_step_decay():
    assert [step_lr(s, 1.0, 10, 0.5) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    assert step_lr(10, 1.0, 10) == pytest.approx(0.1)  # the default drop is tenfold


def test_make_schedule():
    assert make_schedule("constant", 0.1, 100, 10)(99) == 0.1
    step = make_schedule("step", 1.0, 90, 10, gamma=0.1)  # 9 epochs: drop every 3
    assert step(29) == 1.0 and step(30) == pytest.approx(0.1) and step(60) == pytest.approx(0.01)
    assert make_schedule("cosine", 1.0, 100, 10)(50) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown schedule 'linear'; choose one of constant, step, cosine"):
        make_schedule("linear", 1.0, 100, 10)


# Properties every schedule must have, for any rate and run length (hypothesis,
# deterministic as in test_fuzz.py), with the exact step boundaries drawn on purpose.

PROPERTIES = settings(max_examples=200, derandomize=True, deadline=None)
rates = st.floats(min_value=1e-6, max_value=10.0)


@st.composite
def cosine_runs(draw):
    """(base_lr, steps_per_epoch, epochs, warmup_steps): warm-up from none to longer than the run."""
    steps_per_epoch, epochs = draw(st.integers(1, 40)), draw(st.integers(1, 12))
    warmup = draw(st.integers(0, steps_per_epoch * epochs + 3))
    return draw(rates), steps_per_epoch, epochs, warmup


@PROPERTIES
@given(run=cosine_runs())
def test_cosine_warms_up_linearly_to_the_peak_then_never_rises(run):
    base, per_epoch, epochs, warmup = run
    total = per_epoch * epochs
    schedule = make_schedule("cosine", base, total, per_epoch, warmup_steps=warmup)
    values = [schedule(k) for k in range(total + warmup + 5)]                # past the end too
    # Never negative, no overshoot (base * W / W may round one unit in the last place up).
    assert all(0 <= v <= base * (1 + 1e-15) for v in values)
    for k in range(warmup):
        assert values[k] == pytest.approx(base * (k + 1) / warmup, rel=1e-12)
    if warmup:
        assert values[warmup - 1] == pytest.approx(base, rel=1e-12)         # the peak is reached
    assert values[warmup] == pytest.approx(base, rel=1e-12)                 # the cosine starts there
    after = values[warmup:]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(after, after[1:]))
    assert values[max(total, warmup + 1)] == pytest.approx(0.0, abs=1e-12 * base)   # ends at 0


@PROPERTIES
@given(run=cosine_runs())
def test_cosine_halfway_through_the_decay_is_half_the_peak(run):
    base, per_epoch, epochs, warmup = run
    total = per_epoch * epochs
    span = total - warmup
    if span < 2 or span % 2:
        return                                         # no step sits exactly halfway
    schedule = make_schedule("cosine", base, total, per_epoch, warmup_steps=warmup)
    assert schedule(warmup + span // 2) == pytest.approx(base / 2, rel=1e-12)


@PROPERTIES
@given(base=rates, per_epoch=st.integers(1, 50), epochs=st.integers(1, 30),
       step_epochs=st.one_of(st.none(), st.integers(1, 10)), gamma=st.floats(0.01, 1.0))
def test_step_schedule_is_lr_times_gamma_to_the_drops_so_far(base, per_epoch, epochs, step_epochs, gamma):
    schedule = make_schedule("step", base, per_epoch * epochs, per_epoch, step_epochs=step_epochs,
                             gamma=gamma)
    size = (step_epochs or -(-epochs // 3)) * per_epoch        # default: a third of the run, rounded up
    for drops in range(4):
        first = drops * size                                   # the first step at this rate...
        assert schedule(first) == pytest.approx(base * gamma**drops, rel=1e-12)
        if first:
            assert schedule(first - 1) == pytest.approx(base * gamma ** (drops - 1), rel=1e-12)
        assert schedule(first + size - 1) == pytest.approx(base * gamma**drops, rel=1e-12)   # ...and the last


@PROPERTIES
@given(base=rates, step=st.integers(0, 10**6))
def test_constant_schedule_is_the_base_rate_at_every_step(base, step):
    assert make_schedule("constant", base, 100, 10)(step) == base
