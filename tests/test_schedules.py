"""Learning-rate schedules as pure functions."""

import pytest

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


def test_step_decay():
    assert [step_lr(s, 1.0, 10, 0.5) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]


def test_make_schedule():
    assert make_schedule("constant", 0.1, 100, 10)(99) == 0.1
    step = make_schedule("step", 1.0, 90, 10, gamma=0.1)  # 9 epochs: drop every 3
    assert step(29) == 1.0 and step(30) == pytest.approx(0.1) and step(60) == pytest.approx(0.01)
    assert make_schedule("cosine", 1.0, 100, 10)(50) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        make_schedule("linear", 1.0, 100, 10)
