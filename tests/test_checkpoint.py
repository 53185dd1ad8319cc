"""Checkpoints and resume: exact continuation, signals, crashes, bad files."""

import dataclasses
import json

import numpy as np
import pytest

from digitnet import TrainConfig, train
from digitnet.checkpoint import load_checkpoint
from digitnet.errors import CheckpointError, TrainingDiverged, TrainingInterrupted
from digitnet.hooks import Checkpointing, OnEpochEnd, StopOnRequest
from digitnet.metrics import loss_and_accuracy
from digitnet.npzfile import content_sha256

from conftest import REPO

OPTIMIZERS = {"sgd": 0.1, "momentum": 0.02, "nesterov": 0.02, "adam": 1e-3, "adamw": 1e-3}


@pytest.fixture(scope="module")
def tiny(mnist):
    """2,000 real training images: 16 steps an epoch at batch 128."""
    return dataclasses.replace(mnist, x_train=mnist.x_train[:2000], y_train=mnist.y_train[:2000],
                               x_val=mnist.x_val[:500], y_val=mnist.y_val[:500])


def config_for(optimizer, **overrides):
    base = TrainConfig(hidden=(32, 16), epochs=4, batch_size=128, optimizer=optimizer,
                       lr=OPTIMIZERS[optimizer], weight_decay=1e-4, dropout=0.3, input_dropout=0.1,
                       schedule="cosine", warmup_epochs=0.5, patience=3, seed=5)
    return dataclasses.replace(base, **overrides)


def stop_after(steps):
    """A stop request (as SIGINT makes one) that turns true after ``steps`` polls."""
    calls = {"n": 0}

    def requested():
        calls["n"] += 1
        return calls["n"] == steps

    return requested


def saving(path, every=None, stop=None):
    """The hooks the command line adds: checkpoints to ``path``, and a stop request."""
    return [Checkpointing(path, every)] + ([StopOnRequest(stop)] if stop else [])


def same_weights(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("stop_at", [7, 16, 37])  # mid-epoch, an epoch boundary, later mid-epoch
def test_interrupt_and_resume_is_bit_identical(tiny, tmp_path, optimizer, stop_at):
    config = config_for(optimizer)
    straight = train(config, tiny)
    path = tmp_path / "checkpoint.npz"
    with pytest.raises(TrainingInterrupted) as err:
        train(config, tiny, saving(path, stop=stop_after(stop_at)))
    assert err.value.checkpoint == str(path) and "interrupted at epoch" in str(err.value)
    resumed = train(config, tiny, saving(path), resume=load_checkpoint(path))
    assert same_weights(straight.model, resumed.model)
    assert [h["train_loss"] for h in straight.history] == [h["train_loss"] for h in resumed.history]
    assert [h["val_loss"] for h in straight.history] == [h["val_loss"] for h in resumed.history]


@pytest.mark.parametrize("stop_at", [85, 96])    # mid-epoch 6, the end of epoch 6
def test_resume_after_the_best_epoch_restores_it(tiny, tmp_path, stop_at):
    """Early stopping's best weights and counters survive the checkpoint, not only the last ones."""
    config = TrainConfig(hidden=(64,), epochs=10, batch_size=128, lr=0.01, schedule="constant",
                         patience=3, seed=5)
    straight = train(config, tiny)
    assert straight.best_epoch == 4 and len(straight.history) == 7 and straight.stopped_early
    path = tmp_path / "checkpoint.npz"
    with pytest.raises(TrainingInterrupted):
        train(config, tiny, saving(path, stop=stop_after(stop_at)))
    assert load_checkpoint(path).meta["hooks"]["early_stopping"]["best_epoch"] == 4
    resumed = train(config, tiny, resume=load_checkpoint(path))
    assert resumed.best_epoch == 4 and resumed.stopped_early and len(resumed.history) == 7
    assert same_weights(straight.model, resumed.model)


@pytest.mark.parametrize("stop_at", [40, 64, 85])  # before, at the end of, and after the best epoch
def test_resumed_run_ends_with_the_weights_of_its_best_epoch(tiny, tmp_path, stop_at):
    """The final weights are those seen at the best epoch's end, not merely a straight run's.

    Both runs would agree if restoring were broken in both; here each epoch's
    weights are copied as the epoch ends (in the interrupted run, then in the
    resumed one), and the best epoch is found from the recorded validation
    losses, not from the early-stopping hook.
    """
    config = TrainConfig(hidden=(64,), epochs=10, batch_size=128, lr=0.01, schedule="constant",
                         patience=3, seed=5)
    seen = {}

    def keep(record, model):
        seen[record["epoch"]] = [p.copy() for p in model.parameters()]

    path = tmp_path / "checkpoint.npz"
    with pytest.raises(TrainingInterrupted):
        train(config, tiny, [*saving(path, stop=stop_after(stop_at)), OnEpochEnd(keep)])
    before = set(seen)
    resumed = train(config, tiny, [OnEpochEnd(keep)], resume=load_checkpoint(path))
    assert before and sorted(seen) == list(range(1, len(resumed.history) + 1))   # every epoch, once
    val_losses = [h["val_loss"] for h in resumed.history]
    best = int(np.argmin(val_losses)) + 1
    assert best < len(resumed.history) and resumed.stopped_early        # the best is not the last
    assert resumed.best_epoch == best
    for p, at_best, at_end in zip(resumed.model.parameters(), seen[best], seen[len(val_losses)]):
        np.testing.assert_array_equal(p, at_best)
        assert not np.array_equal(p, at_end)
    assert loss_and_accuracy(resumed.model, tiny.x_val, tiny.y_val)[0] == val_losses[best - 1]


@pytest.mark.parametrize("extra", [{"augment": "elastic"}, {"adversarial": 0.1, "label_smoothing": 0.1},
                                   {"max_norm": 1.0}], ids=["augment", "adversarial", "max-norm"])
def test_resume_is_bit_identical_with_the_accuracy_regularisers(tiny, tmp_path, extra):
    # The distortions draw from the training generator, whose state the
    # checkpoint keeps: a resumed run distorts the same images the same way.
    config = config_for("adam", **extra)
    straight = train(config, tiny)
    path = tmp_path / "checkpoint.npz"
    with pytest.raises(TrainingInterrupted):
        train(config, tiny, saving(path, stop=stop_after(21)))
    resumed = train(config, tiny, saving(path), resume=load_checkpoint(path))
    assert same_weights(straight.model, resumed.model)


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_n_epochs_then_n_more_equals_2n_straight(tiny, tmp_path, optimizer):
    # A schedule that does not depend on the total length, so that "train 2
    # epochs, then extend to 4" and "train 4" are the same computation.
    config = config_for(optimizer, schedule="constant", warmup_epochs=0.0, patience=None)
    straight = train(dataclasses.replace(config, epochs=4), tiny)
    path = tmp_path / "checkpoint.npz"
    train(dataclasses.replace(config, epochs=2), tiny, saving(path, 1))
    resumed = train(dataclasses.replace(config, epochs=4), tiny, saving(path), resume=load_checkpoint(path))
    assert same_weights(straight.model, resumed.model)
    assert len(resumed.history) == 4


def test_float64_resume(tiny, tmp_path):
    config = config_for("adam", dtype="float64", epochs=2)
    straight = train(config, tiny)
    path = tmp_path / "c.npz"
    with pytest.raises(TrainingInterrupted):
        train(config, tiny, saving(path, stop=stop_after(10)))
    assert same_weights(straight.model, train(config, tiny, resume=load_checkpoint(path)).model)


def test_full_batch_resume(tiny, tmp_path):
    config = TrainConfig(hidden=(20,), epochs=12, batch_size=0, optimizer="sgd", lr=0.05,
                         schedule="constant", validation_size=0, patience=None)
    data = dataclasses.replace(tiny, x_val=tiny.x_val[:0], y_val=tiny.y_val[:0])
    straight = train(config, data)
    path = tmp_path / "c.npz"
    with pytest.raises(TrainingInterrupted):
        train(config, data, saving(path, stop=stop_after(5)))
    resumed = train(config, data, resume=load_checkpoint(path))
    assert same_weights(straight.model, resumed.model)
    assert resumed.final_train_loss == straight.final_train_loss


def test_divergence_keeps_last_good_checkpoint(tiny, tmp_path):
    path = tmp_path / "checkpoint.npz"
    good = TrainConfig(hidden=(128, 128, 128), epochs=1, optimizer="momentum", lr=0.01,
                       schedule="constant", patience=None)
    train(good, tiny, saving(path, 1))
    before = path.read_bytes()
    bad = dataclasses.replace(good, lr=1e3, epochs=3)
    with pytest.raises(TrainingDiverged) as err:
        train(bad, tiny, saving(path, 1), resume=load_checkpoint(path))
    assert "lower learning rate" in str(err.value) and "checkpoint is kept" in str(err.value)
    assert path.read_bytes() == before
    load_checkpoint(path)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_divergence_detected_in_both_precisions(tiny, dtype):
    config = TrainConfig(hidden=(128, 128, 128), epochs=2, optimizer="momentum",
                         lr=1e5 if dtype == "float64" else 1e3, schedule="constant", dtype=dtype)
    with pytest.raises(TrainingDiverged):
        train(config, tiny)


def test_checkpoint_for_other_data_is_refused(tiny, mnist_small, tmp_path):
    path = tmp_path / "c.npz"
    train(config_for("adam", epochs=1), tiny, saving(path, 1))
    with pytest.raises(CheckpointError, match="training images"):
        train(config_for("adam"), mnist_small, resume=load_checkpoint(path))


def rewrite(path, mutate):
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(arrays.pop("metadata").tobytes())
    mutate(arrays, meta)
    meta["content_sha256"] = content_sha256(arrays)
    arrays["metadata"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


@pytest.fixture
def checkpoint_file(tiny, tmp_path):
    path = tmp_path / "checkpoint.npz"
    with pytest.raises(TrainingInterrupted):
        train(config_for("adam"), tiny, saving(path, stop=stop_after(5)))
    return path


@pytest.mark.parametrize("mutate,words", [
    (lambda a, m: a.__setitem__("order", a["order"][::-1][:100].copy()), "permutation"),
    (lambda a, m: a.__setitem__("order", np.zeros(2000, np.int64)), "permutation"),
    (lambda a, m: a.__setitem__("order", a["order"].astype(np.int32)), "permutation"),
    (lambda a, m: a.__setitem__("hook.extra.3", a["param.layer2.W"][:0]), "hook array extra.3"),
    (lambda a, m: a.__setitem__("hook.extra.6", a["param.layer0.W"]), "hook array extra.6 fits no parameter"),
    (lambda a, m: m.__setitem__("layers", [{"type": "Conv"}]),
     "no valid layer list (unknown layer type 'Conv')"),
    (lambda a, m: a.__setitem__("opt.m.layer0.W", np.zeros((3, 3), np.float32)), "optimizer array"),
    (lambda a, m: a.pop("opt.v.layer2.b"), "optimizer state 'v'"),
    (lambda a, m: a.__setitem__("hook.early_stopping.9", np.zeros(3, np.float32)), "hook array"),
    (lambda a, m: a.pop("param.layer1.W"), "layer1.W"),
    (lambda a, m: m.pop("rng_state"), "incomplete"),
    (lambda a, m: m["rng_state"].__setitem__("bit_generator", "MT19937x"), "incomplete"),
    (lambda a, m: m["state"].__setitem__("position", 10**9), "out of range"),
    (lambda a, m: m.__setitem__("format", "digitnet-model"), "not a digitnet-checkpoint"),
])
def test_inconsistent_checkpoints(checkpoint_file, mutate, words):
    rewrite(checkpoint_file, mutate)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(checkpoint_file)
    assert words in str(err.value) and str(checkpoint_file) in str(err.value)


@pytest.mark.parametrize("name,optimizer,lr,weight_decay",
                         [("adam", "adam", 1e-3, 1e-4), ("momentum", "momentum", 0.02, 0.0)])
def test_version_1_checkpoints_resume(tiny, tmp_path, name, optimizer, lr, weight_decay):
    """Files written by digitnet 0.1 (tests/data/checkpoint-v1-*.npz, made by its own code).

    Version 1 kept the optimizer state flat (all weights, then all biases, or
    one array of everything without weight decay) and Adam's moments pre-scaled
    (M = m / (1 - b1), V = v / (1 - b2)). Stopped after 20 of 64 steps.
    """
    config = config_for(optimizer, hidden=(16,), lr=lr, weight_decay=weight_decay)
    straight = train(config, tiny)
    path = tmp_path / "checkpoint.npz"
    path.write_bytes((REPO / "tests" / "data" / f"checkpoint-v1-{name}.npz").read_bytes())
    old = load_checkpoint(path)
    assert old.meta["format_version"] == 1 and old.meta["state"]["step"] == 20
    kinds = {"adam": {"m", "v"}, "momentum": {"velocity"}}[name]
    assert set(old.optimizer) == kinds
    resumed = train(config, tiny, saving(path, every=1), resume=old)
    # 0.1 computed Adam from M and V: equal up to float32 rounding, carried through 44 more steps.
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert load_checkpoint(path).meta["format_version"] == 2     # saved again in today's format


def test_tampered_checkpoint(checkpoint_file):
    with np.load(checkpoint_file) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["param.layer0.b"][0] += 1
    np.savez(checkpoint_file, **arrays)
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(checkpoint_file)


def test_resuming_on_other_data_is_refused_naming_both(checkpoint_file, tiny):
    fewer = dataclasses.replace(tiny, x_train=tiny.x_train[:1000], y_train=tiny.y_train[:1000])
    with pytest.raises(CheckpointError) as err:
        train(config_for("adam"), fewer, resume=load_checkpoint(checkpoint_file))
    assert str(err.value) == (f"{checkpoint_file}: made for mnist with 2000 training images, not mnist "
                              "with 1000 (give the run's own --data-dir)")


def _version_1_file(tmp_path, mutate=None):
    """The Adam checkpoint of digitnet 0.1, as raw arrays and metadata, and a copy to load."""
    path = tmp_path / "v1.npz"
    path.write_bytes((REPO / "tests" / "data" / "checkpoint-v1-adam.npz").read_bytes())
    if mutate:
        rewrite(path, mutate)
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    return path, arrays, json.loads(arrays.pop("metadata").tobytes())


def test_version_1_files_convert_as_their_layout_says(tmp_path):
    """Version 1 kept Adam's moments flat, all weights then all biases, pre-scaled
    (M = m / (1 - 0.9), V = v / (1 - 0.999)), the best weights as best.<name>, and the early
    stopping counters in the loop state: each lands where today's format keeps it."""
    path, arrays, meta = _version_1_file(tmp_path)
    old = load_checkpoint(path)
    names = ["layer0.W", "layer0.b", "layer1.W", "layer1.b"]
    flat_order = ["layer0.W", "layer1.W", "layer0.b", "layer1.b"]
    for moment, key, scale in (("m", "M", 0.1), ("v", "V", 0.001)):
        flat = np.concatenate([arrays[f"opt.{key}.0"], arrays[f"opt.{key}.1"]]) * np.float32(scale)
        at, expected = 0, {}
        for name in flat_order:
            size = old.params[name].size
            expected[name] = flat[at:at + size].reshape(old.params[name].shape)
            at += size
        assert at == flat.size
        for name, array in zip(names, old.optimizer[moment]):
            np.testing.assert_allclose(array, expected[name], rtol=1e-6, err_msg=f"{moment} {name}")
    assert set(old.hooks) == {"early_stopping"}
    for i, name in enumerate(names):
        np.testing.assert_array_equal(old.hooks["early_stopping"][str(i)], arrays[f"best.{name}"])
    state = meta["state"]
    assert old.meta["hooks"] == {"early_stopping": {"best_loss": state["best_loss"],
                                                    "best_epoch": state["best_epoch"], "waited": 0}}
    assert old.meta["state"]["stop"] is False
    assert not {"best_loss", "best_epoch", "waited", "stopped_early"} & set(old.meta["state"])


def test_version_1_files_with_textbook_moments_or_without_early_stopping_fields(tmp_path):
    """Files from before the M, V change hold m and v as they are; files without the early
    stopping counters get today's starting values."""
    _, arrays, _ = _version_1_file(tmp_path)
    scaled = load_checkpoint(_version_1_file(tmp_path)[0]).optimizer

    def textbook(a, m):
        for key, moment, scale in (("M", "m", 1 - 0.9), ("V", "v", 1 - 0.999)):
            for part in ("0", "1"):
                a[f"opt.{moment}.{part}"] = a.pop(f"opt.{key}.{part}") * np.float32(scale)
        for field in ("best_loss", "best_epoch", "waited"):
            m["state"].pop(field)
        m["state"]["stopped_early"] = True

    old = load_checkpoint(_version_1_file(tmp_path, textbook)[0])
    for moment in ("m", "v"):
        for a, b in zip(old.optimizer[moment], scaled[moment]):
            np.testing.assert_array_equal(a, b)
    assert old.meta["hooks"] == {"early_stopping": {"best_loss": None, "best_epoch": 0, "waited": 0}}
    assert old.meta["state"]["stop"] is True

    def no_best_and_never_stopped(a, m):
        for name in ("layer0.W", "layer0.b", "layer1.W", "layer1.b"):
            a.pop(f"best.{name}")
        m["state"].pop("stopped_early")

    old = load_checkpoint(_version_1_file(tmp_path, no_best_and_never_stopped)[0])
    assert old.hooks == {} and old.meta["state"]["stop"] is False


def test_a_version_1_optimizer_array_of_the_wrong_size_is_named(tmp_path):
    path, arrays, _ = _version_1_file(tmp_path, lambda a, m: a.__setitem__("opt.M.1", a["opt.M.1"][:-3]))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    n = sum(a.size for k, a in arrays.items() if k.startswith("param."))
    assert str(err.value) == f"{path}: optimizer array M has {n - 3} values, the parameters {n}"


def test_a_checkpoint_after_an_epoch_starts_the_next_one_and_says_what_made_it(tiny, tmp_path):
    """Saved at the end of epoch 1 of 1 (`--checkpoint-every 1`): the counters are the next
    epoch's, at its start, with no order; the file names its version, classes, configuration."""
    import digitnet

    path = tmp_path / "after.npz"
    config = config_for("adam", epochs=1)
    train(config, tiny, saving(path, every=1))
    saved = load_checkpoint(path)
    state = saved.meta["state"]
    assert (state["epoch"], state["position"], state["loss_sum"], state["correct"],
            state["epoch_seconds"]) == (2, 0, 0.0, 0, 0.0)
    assert state["step"] == 16 and "history" not in state and len(saved.meta["history"]) == 1
    assert saved.order is None
    assert saved.meta["digitnet_version"] == digitnet.__version__
    assert saved.meta["classes"] == list(range(10)) and saved.meta["config"] == config.to_dict()
    assert saved.meta["data"] == {"dataset": "mnist", "n_train": 2000, "n_val": len(tiny.x_val),
                                  "source": tiny.source}


class _Counter:
    """A hook of the user's with a name but no state to save, and one with state."""

    def __init__(self, name, with_state):
        self.name, self.count = name, 0
        if with_state:
            self.state_dict = lambda: ({"count": self.count}, {})
            self.load_state_dict = lambda scalars, arrays: setattr(self, "count", scalars["count"] + 100)

    def __getattr__(self, moment):            # every other moment: nothing to do
        if moment.startswith("on_"):
            return lambda *args: None
        raise AttributeError(moment)


def test_hooks_without_state_are_skipped_and_new_hooks_resume_from_their_start(checkpoint_file, tiny):
    """A named hook without state_dict is not saved (and not an error); a stateful hook that was
    not in the run when it stopped keeps its own start on resuming; one that was is reloaded."""
    from digitnet.checkpoint import save_checkpoint
    from digitnet.train import Trainer

    trainer = Trainer(config_for("adam"), tiny, [_Counter("plain", False), _Counter("kept", True)])
    trainer.hooks[1].count = 7
    path = save_checkpoint(checkpoint_file.with_name("hooks.npz"), trainer)
    assert load_checkpoint(path).meta["hooks"] == {"kept": {"count": 7}}
    assert load_checkpoint(path).meta["state"]["epoch"] == 1          # saved as it stands, mid-run
    fresh, kept = _Counter("fresh", True), _Counter("kept", True)
    resumed = Trainer(config_for("adam"), tiny, [fresh, kept])
    from digitnet.checkpoint import restore
    restore(load_checkpoint(path), resumed)
    assert fresh.count == 0 and kept.count == 107


def test_a_run_that_had_stopped_early_resumes_as_stopped(checkpoint_file, tiny):
    rewrite(checkpoint_file, lambda a, m: m["state"].__setitem__("stop", True))
    checkpoint = load_checkpoint(checkpoint_file)
    result = train(config_for("adam"), tiny, resume=checkpoint)
    assert result.stopped_early is True


@pytest.mark.parametrize("hidden, says", [
    ((32, 8), "layer1.W is (32, 16), this run's network has (32, 8)"),
    ((32,), "its layers do not match this run's network"),
])
def test_resuming_with_another_network_is_refused_naming_the_difference(checkpoint_file, tiny, hidden, says):
    with pytest.raises(CheckpointError) as err:
        train(config_for("adam", hidden=hidden), tiny, resume=load_checkpoint(checkpoint_file))
    assert str(err.value) == f"{checkpoint_file}: {says}"


def test_an_epoch_split_by_a_stop_counts_its_time_before_and_after(tiny, tmp_path):
    """The checkpoint keeps the seconds the interrupted epoch had run; the resumed run adds them
    to the epoch's record (here set to 100 s, so the sum is unmistakable)."""
    import time

    path = tmp_path / "checkpoint.npz"
    started = time.perf_counter()
    with pytest.raises(TrainingInterrupted):
        train(config_for("adam", epochs=1), tiny, saving(path, stop=stop_after(5)))
    assert 0 < load_checkpoint(path).meta["state"]["epoch_seconds"] < time.perf_counter() - started
    rewrite(path, lambda a, m: m["state"].__setitem__("epoch_seconds", 100.0))
    started = time.perf_counter()
    result = train(config_for("adam", epochs=1), tiny, saving(path, every=1), resume=load_checkpoint(path))
    assert 100.0 < result.history[0]["seconds"] < 100.0 + time.perf_counter() - started
    assert load_checkpoint(path).meta["state"]["epoch_seconds"] == 0.0     # the next epoch starts at 0
