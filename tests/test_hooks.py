"""The loop's hooks: when each is called, what each owns, and your own."""

import dataclasses

import numpy as np
import pytest

from digitnet import TrainConfig, train
from digitnet.errors import TrainingInterrupted
from digitnet.hooks import Hook, OnEpochEnd, StopOnRequest
from digitnet.losses import SoftmaxCrossEntropy
from digitnet.model import Architecture, build_mlp
from digitnet.optim import SGD
from digitnet.train import gradients, train_step


@pytest.fixture(scope="module")
def tiny(mnist):
    """1,000 real training images: 8 steps an epoch at batch 128."""
    return dataclasses.replace(mnist, x_train=mnist.x_train[:1000], y_train=mnist.y_train[:1000],
                               x_val=mnist.x_val[:300], y_val=mnist.y_val[:300])


CONFIG = TrainConfig(hidden=(16,), epochs=3, batch_size=128, lr=3e-3, patience=None)


class Recorder(Hook):
    def __init__(self):
        self.events = []

    def on_train_begin(self, trainer):
        self.events.append("begin")

    def on_epoch_begin(self, trainer):
        self.events.append(f"epoch {trainer.state.epoch}")

    def on_step_end(self, trainer, loss):
        assert np.isfinite(loss)
        self.events.append("step")

    def on_epoch_end(self, trainer, record):
        self.events.append(f"end {record['epoch']}")

    def on_train_end(self, trainer):
        self.events.append("done")


def test_every_moment_is_called_in_order(tiny):
    recorder = Recorder()
    train(CONFIG, tiny, [recorder])
    epoch = ["step"] * 8
    assert recorder.events == ["begin", "epoch 1", *epoch, "end 1", "epoch 2", *epoch, "end 2",
                               "epoch 3", *epoch, "end 3", "done"]


def test_a_hook_can_end_training_after_an_epoch(tiny):
    class StopAfterTwo(Hook):
        def on_epoch_end(self, trainer, record):
            trainer.state.stop = record["epoch"] == 2

    result = train(dataclasses.replace(CONFIG, epochs=5), tiny, [StopAfterTwo()])
    assert len(result.history) == 2


def test_a_stop_request_without_checkpoints_stops_after_the_step(tiny):
    polls = []
    with pytest.raises(TrainingInterrupted) as err:
        train(CONFIG, tiny, [StopOnRequest(lambda: polls.append(1) or len(polls) == 5)])
    assert len(polls) == 5 and err.value.checkpoint is None
    assert str(err.value) == "interrupted at epoch 1, step 5"
    assert err.value.model is not None and err.value.model.n_features_in == 784   # not lost


def test_on_epoch_end_function_sees_each_record_and_the_model(tiny):
    seen = []
    result = train(CONFIG, tiny, [OnEpochEnd(lambda record, model: seen.append((record["epoch"], model)))])
    assert [epoch for epoch, _ in seen] == [1, 2, 3]
    assert all(model is result.model for _, model in seen)


def test_learning_rate_in_the_history_follows_the_schedule(tiny):
    """What training records is what the schedule gives for the epoch's last step."""
    from digitnet.schedules import make_schedule

    config = dataclasses.replace(CONFIG, epochs=4, schedule="cosine", warmup_epochs=1)
    result = train(config, tiny)
    schedule = make_schedule("cosine", config.lr, 4 * 8, 8, warmup_steps=8)
    assert [h["lr"] for h in result.history] == [schedule(8 * e - 1) for e in range(1, 5)]
    assert result.history[0]["lr"] == pytest.approx(config.lr)         # warm-up reached the peak


def test_train_step_is_one_textbook_update():
    """Forward, loss, backward, then p -= lr * dL/dp for every parameter: worked by hand."""
    rng = np.random.default_rng(0)
    model = build_mlp(Architecture(input_size=6, hidden=(5,), output_size=3), rng, np.float64)
    x, y = rng.standard_normal((4, 6)), np.array([0, 2, 1, 2])
    loss_fn = SoftmaxCrossEntropy()
    before = [p.copy() for p in model.parameters()]
    expected_loss, _ = gradients(model, loss_fn, x, y)
    grads = [g.copy() for g in model.gradients()]
    for p, b in zip(model.parameters(), before):
        p[...] = b
    loss, correct = train_step(model, loss_fn, SGD(lr=0.5), x, y)
    assert loss == expected_loss and 0 <= correct <= 4
    for p, b, g in zip(model.parameters(), before, grads):
        np.testing.assert_allclose(p, b - 0.5 * g, rtol=1e-14)


class FakeLoop:
    """Just what EarlyStopping reads: a one-parameter model, the state and the result."""

    def __init__(self):
        self.weight = np.zeros(1)
        self.model = type("M", (), {"parameters": lambda _: [self.weight]})()
        self.state = type("S", (), {"stop": False, "history": []})()
        self.result = type("R", (), {"stopped_early": False, "best_epoch": 0})()

    def feed(self, hook, values, key):
        for epoch, value in enumerate(values, start=1):
            self.weight[0] = epoch                       # the weights "of" each epoch
            self.state.history.append({key: value})
            hook.on_epoch_end(self, {"epoch": epoch, key: value})
            if self.state.stop:
                break
        hook.on_train_end(self)


@pytest.mark.parametrize("monitor, values, min_delta, stopped_at, best", [
    ("val_loss", [1.0, 0.9, 0.95, 0.92, 0.91], 0.0, 4, 2),          # lower is better
    ("val_accuracy", [0.5, 0.7, 0.69, 0.71, 0.7, 0.7], 0.0, 6, 4),   # higher is better
    ("val_accuracy", [0.5, 0.7, 0.705, 0.709, 0.8], 0.01, 4, 2),     # +0.005 is not +0.01
    ("train_loss", [1.0, 0.5, 0.49995, 0.4999], 1e-4, 4, 2),
])
def test_early_stopping_watches_the_chosen_figure(monitor, values, min_delta, stopped_at, best):
    from digitnet.hooks import EarlyStopping

    loop, hook = FakeLoop(), EarlyStopping(2, monitor=monitor, min_delta=min_delta)
    loop.feed(hook, values, monitor)
    assert len(loop.state.history) == stopped_at and loop.result.stopped_early
    assert hook.best_epoch == best and hook.best_value == values[best - 1]
    assert loop.weight[0] == best                         # the best epoch's weights are back


def test_early_stopping_without_restoring_keeps_the_last_weights():
    from digitnet.hooks import EarlyStopping

    loop, hook = FakeLoop(), EarlyStopping(1, monitor="train_loss", restore_best=False)
    loop.feed(hook, [1.0, 0.5, 0.7], "train_loss")
    assert loop.state.stop and loop.weight[0] == 3 and hook.best_params is None
    with pytest.raises(ValueError, match="cannot monitor"):
        EarlyStopping(1, monitor="val_f1")


def test_early_stopping_reads_state_saved_before_it_could_watch_other_figures():
    from digitnet.hooks import EarlyStopping

    hook = EarlyStopping(3)
    hook.load_state_dict({"best_loss": 0.25, "best_epoch": 4, "waited": 1}, {"0": np.ones(2)})
    assert hook.best_value == 0.25 and hook.best_epoch == 4 and hook.waited == 1
    scalars, arrays = hook.state_dict()
    again = EarlyStopping(3)
    again.load_state_dict(scalars, arrays)
    assert again.best_value == 0.25 and np.array_equal(again.best_params[0], np.ones(2))
