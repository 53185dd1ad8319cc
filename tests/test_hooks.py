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


# --- the standard hooks as a run uses them: which, with what, and what each says (issue 17) ----

def _arrays(n=100, validation=0, seed=0):
    from digitnet.api import arrays_dataset

    rng = np.random.default_rng(seed)
    return arrays_dataset(rng.normal(size=(n, 4)), rng.integers(0, 3, n), validation_size=validation)


def _config(**overrides):
    return dataclasses.replace(TrainConfig(dataset="arrays", hidden=(4,), epochs=2, batch_size=10,
                                           optimizer="sgd", lr=0.1, validation_size=0, patience=None,
                                           seed=0), **overrides)


def test_standard_hooks_follow_the_configuration():
    from digitnet.hooks import CostLog, DivergenceCheck, EarlyStopping, EpochLog, MaxNorm, standard_hooks

    def log(line):
        pass

    with_val, without_val = _arrays(120, validation=20), _arrays(100)       # 100 training rows each

    def kinds(config, data, log=log):
        return [type(h) for h in standard_hooks(config, data, log)]

    hooks = standard_hooks(_config(patience=3, max_norm=2.5, log_every=4), with_val, log)
    assert [type(h) for h in hooks] == [DivergenceCheck, MaxNorm, EarlyStopping, EpochLog]
    assert hooks[1].limit == 2.5 and hooks[2].patience == 3 and hooks[2].log is log
    assert hooks[3].log is log and hooks[3].every == 4
    assert kinds(_config(patience=3), without_val) == [DivergenceCheck, EpochLog]   # nothing to watch
    assert kinds(_config(patience=None), with_val) == [DivergenceCheck, EpochLog]
    assert kinds(_config(), without_val, log=None) == [DivergenceCheck]               # nothing to say
    for full_batch in (0, 100, 500):                    # one step an epoch: the seed recipe's cost log
        hooks = standard_hooks(_config(batch_size=full_batch, log_every=7), without_val, log)
        assert [type(h) for h in hooks] == [DivergenceCheck, CostLog]
        assert hooks[1].log is log and hooks[1].every == 7
    assert kinds(_config(batch_size=99), without_val) == [DivergenceCheck, EpochLog]
    assert kinds(_config(batch_size=0), without_val, log=None) == [DivergenceCheck, CostLog]


def _figures(record):
    line = f"  train acc {record['train_accuracy']:.4f}"
    if record["val_accuracy"] is not None:
        line += f"  val loss {record['val_loss']:.4f}  val acc {record['val_accuracy']:.4f}"
    return line + f"  ({record['seconds']:.2f}s)"


@pytest.mark.parametrize("validation", [0, 20])
def test_the_epoch_log_says_every_nth_epoch_and_the_last(validation):
    lines = []
    result = train(_config(epochs=7, log_every=3), _arrays(120 - (validation == 0) * 20, validation),
                   log=lines.append)
    shown = [result.history[e - 1] for e in (1, 4, 7)]
    assert lines == [f"epoch {r['epoch']:>3}/7  loss {r['train_loss']:.4f}" + _figures(r) for r in shown]
    assert ("val acc" in lines[0]) == bool(validation)


def test_the_cost_log_says_every_nth_iteration_and_the_cost_after_the_last():
    """Full batch (the seed recipe): "Cost after iteration N", N counted from 0 before each
    update, and one more forward pass for the cost after the last update."""
    from digitnet.inputs import to_float

    data, lines = _arrays(), []
    result = train(_config(batch_size=0, epochs=5, log_every=2, dtype="float64"), data, log=lines.append)
    logged = [result.history[e - 1] for e in (1, 3, 5)]
    logits = result.model.logits(to_float(data.x_train, np.float64)).astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    cost = float(-log_p[np.arange(len(data.y_train)), data.y_train].mean())   # by hand, not by the hook
    assert result.final_train_loss == pytest.approx(cost, rel=1e-9)
    assert lines == [f"Cost after iteration {r['epoch'] - 1}: {r['train_loss']:.6f}" + _figures(r)
                     for r in logged] + [f"Cost after iteration 5: {cost:.6f}"]


def _fake_trainer(hooks=(), lr=0.1, optimizer_lr=0.05, epoch=2, step=7):
    from types import SimpleNamespace

    return SimpleNamespace(hooks=list(hooks), config=SimpleNamespace(lr=lr, epochs=5),
                           optimizer=SimpleNamespace(lr=optimizer_lr),
                           state=SimpleNamespace(epoch=epoch, step=step, stop=False, history=[]),
                           model=SimpleNamespace(parameters=lambda: [np.array([1.0, np.nan])]))


def test_divergence_is_said_with_where_the_rate_and_what_to_try(tmp_path):
    from digitnet.errors import TrainingDiverged
    from digitnet.hooks import Checkpointing, DivergenceCheck

    with pytest.raises(TrainingDiverged) as err:
        DivergenceCheck().on_step_end(_fake_trainer(), float("nan"))
    assert str(err.value) == ("loss became nan at epoch 2, step 7 (learning rate 0.05); "
                              "try a lower learning rate, e.g. --lr 0.01")
    with pytest.raises(TrainingDiverged) as err:
        saving = _fake_trainer([Checkpointing(tmp_path / "c.npz")], lr=3.0)
        DivergenceCheck().on_step_end(saving, float("inf"))
    assert str(err.value) == ("loss became inf at epoch 2, step 7 (learning rate 0.05) (the last good "
                              "checkpoint is kept); try a lower learning rate, e.g. --lr 0.3")
    with pytest.raises(TrainingDiverged) as err:
        DivergenceCheck().on_epoch_end(_fake_trainer(), {"epoch": 3})
    assert str(err.value) == "weights became NaN or infinite in epoch 3; try a lower learning rate (now 0.1)"
    with pytest.raises(TrainingDiverged) as err:
        Checkpointing(tmp_path / "c.npz").on_interrupt(_fake_trainer())
    assert str(err.value) == ("weights became NaN or infinite; not overwriting the last good checkpoint; "
                              "try a lower learning rate (now 0.1)")
    assert not (tmp_path / "c.npz").exists()


@pytest.mark.parametrize("monitor, values, restore, line", [
    ("val_loss", [1.0, 0.9, 0.95, 0.92], True, "early stop: validation loss has not improved for 2 epochs; "
                                                "restoring epoch 2"),
    ("train_loss", [1.0, 0.9, 0.95, 0.92], False, "early stop: training loss has not improved for 2 epochs"),
    ("val_accuracy", [0.5, 0.7, 0.6, 0.6], True, "early stop: validation accuracy has not improved for 2 "
                                                 "epochs; restoring epoch 2"),
    ("train_accuracy", [0.5, 0.4, 0.45], False, "early stop: training accuracy has not improved for 2 "
                                                "epochs"),
])
def test_early_stopping_says_what_it_watched_and_which_epoch_it_restores(monitor, values, restore, line):
    from digitnet.hooks import EarlyStopping

    lines = []
    loop, hook = FakeLoop(), EarlyStopping(2, lines.append, monitor=monitor, restore_best=restore)
    loop.feed(hook, values, monitor)
    assert lines == [line] and loop.result.stopped_early


def test_early_stopping_before_any_epoch_and_after_state_without_weights():
    from digitnet.hooks import EarlyStopping

    hook = EarlyStopping(2)
    assert hook.state_dict() == ({"best": None, "best_epoch": 0, "waited": 0}, {})
    with pytest.raises(ValueError) as err:
        EarlyStopping(1, monitor="val_f1")
    assert str(err.value) == ("cannot monitor 'val_f1': use val_loss, train_loss, val_accuracy "
                              "or train_accuracy")
    # A checkpoint's state without the best weights (restore_best was off when it was saved):
    # training ends without restoring anything, and without failing.
    loop = FakeLoop()
    loop.state.history = [{}] * 5
    hook.load_state_dict({"best": 0.3, "best_epoch": 2, "waited": 1}, {})
    hook.on_train_end(loop)
    assert loop.weight[0] == 0 and loop.result.best_epoch == 2


@pytest.mark.parametrize("every, stop_after, saved", [
    (2, None, [2, 4, 5]),          # every 2 epochs and the last
    (2, 3, [2, 3]),                # and the epoch training stops early after
    (10, None, [5]),
    (None, None, []),              # only when interrupted
])
def test_checkpoints_are_written_every_n_epochs_at_the_last_and_at_an_early_stop(
        tmp_path, monkeypatch, every, stop_after, saved):
    import digitnet.hooks as hooks_module
    from digitnet.hooks import Checkpointing

    written, save = [], hooks_module.save_checkpoint

    def recording_save(path, trainer, after_epoch):
        written.append((trainer.state.epoch, after_epoch))
        return save(path, trainer, after_epoch)

    class StopAfter(Hook):
        def on_epoch_end(self, trainer, record):
            trainer.state.stop = record["epoch"] == stop_after

    monkeypatch.setattr(hooks_module, "save_checkpoint", recording_save)
    checkpointing = Checkpointing(tmp_path / "c.npz", every)
    assert checkpointing.saved is None
    train(_config(epochs=5), _arrays(), [StopAfter(), checkpointing])
    assert written == [(epoch, True) for epoch in saved]
    assert checkpointing.saved == (str(tmp_path / "c.npz") if saved else None)


def test_the_progress_bar_shows_each_epoch_s_steps_loss_and_accuracy_then_goes(capsys):
    from digitnet.hooks import ProgressBar

    class LastLoss(Hook):
        def on_step_end(self, trainer, loss):
            self.loss = loss

    bar, last_loss = ProgressBar(), LastLoss()
    result = train(_config(epochs=2), _arrays(), [bar, last_loss])
    shown = capsys.readouterr().err
    assert "epoch 1/2" in shown and "epoch 2/2" in shown and "10/10" in shown
    last = result.history[-1]
    assert f"acc={last['train_accuracy']:.4f}" in shown          # the epoch's running accuracy at its end
    assert f"loss={last_loss.loss:.4f}" in shown                  # and its last step's loss
    assert "\n" not in shown and bar.bar.disable                   # closed, leaving no line behind


def test_hooks_that_never_saw_an_epoch_end_quietly_and_the_logs_default_to_their_recipes():
    from types import SimpleNamespace

    from digitnet.hooks import CostLog, EpochLog, ProgressBar

    unopened = ProgressBar()                       # e.g. a resumed run that had no epoch left
    unopened.on_interrupt(SimpleNamespace())
    unopened.on_train_end(SimpleNamespace())
    assert unopened.bar is None
    assert EpochLog(print).every == 1              # a line every epoch
    assert CostLog(print).every == 100             # the seed recipe: the cost every 100 iterations


def test_the_progress_bar_is_closed_when_training_is_interrupted(capsys):
    from digitnet.hooks import ProgressBar

    bar, polls = ProgressBar(), iter(range(1, 100))
    with pytest.raises(TrainingInterrupted):
        train(_config(epochs=2), _arrays(), [bar, StopOnRequest(lambda: next(polls) == 3)])
    shown = capsys.readouterr().err
    assert bar.bar.disable and bar.bar.n == 3                      # closed, three steps in
    assert "epoch 1/2" in shown and "\n" not in shown and shown.endswith("\r")   # and wiped away
