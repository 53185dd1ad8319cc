"""A write that fails midway leaves the previous file as it was, no temporary file, and one line.

Issue 31: an atomic write whose clean-up was never reached (the temporary file left behind when
the write failed) passed every test. Here each file the command line writes fails after its
temporary file holds the new bytes: the disk fills up at the fsync before the rename.
"""

import errno
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from digitnet.cli import main
from digitnet.errors import DigitnetError

from conftest import MNIST_DIR

OLD = b"the previous version\n"


@pytest.fixture
def disk_full(monkeypatch):
    """``disk_full(name)``: writing ``name`` fails with ENOSPC once its temporary file is written.

    Returns the list of temporary files that were failed (each held the new bytes then).
    """
    failed, real = [], os.fsync

    def fail_on(name):
        def fsync(fd):
            tmp = Path(os.readlink(f"/proc/self/fd/{fd}"))
            if tmp.name.startswith(f".{name}.") and tmp.name.endswith(".tmp"):
                assert tmp.stat().st_size > 0                # the new bytes are in it
                failed.append(tmp)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        return failed

    return fail_on


TINY = ["--hidden", "8", "--epochs", "1", "--train-limit", "300", "--validation-size", "100",
        "--data-dir", str(MNIST_DIR)]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", *TINY, "--out", str(out), "--no-plots"]) == 0
    return out


def _csv(folder):
    path = folder / "test.csv"
    np.savetxt(path, np.zeros((3, 784), dtype=np.uint8), fmt="%d", delimiter=",", comments="",
               header=",".join(f"pixel{i}" for i in range(784)))
    return path


def _picture(folder):
    from drawing import draw_digit

    draw_digit(7).save(folder / "seven.png")
    (folder / "seen").mkdir()
    (folder / "seen" / "seven-28x28.png").write_bytes(OLD)     # never overwritten: -2 is written
    return folder / "seven.png"


# (what, argv from (tmp_path, run folder), the folder written into, the file that fails)
CASES = {
    "train model": (lambda t, run: ["train", *TINY, "--out", str(t), "--no-plots"], ".", "model.npz"),
    "train history": (lambda t, run: ["train", *TINY, "--out", str(t), "--no-plots"], ".", "history.json"),
    "train report": (lambda t, run: ["train", *TINY, "--out", str(t), "--no-plots"], ".", "report.json"),
    "train plot": (lambda t, run: ["train", *TINY, "--out", str(t)], ".", "cost.png"),
    "train checkpoint": (lambda t, run: ["train", *TINY, "--out", str(t), "--no-plots", "--checkpoint-every",
                                         "1"], ".", "checkpoint.npz"),
    "plot": (lambda t, run: ["plot", str(t)], ".", "weights.png"),
    "predict --submission": (lambda t, run: ["predict", str(run / "model.npz"), str(_csv(t)), "--submission",
                                             str(t / "submission.csv")], ".", "submission.csv"),
    "predict --save-input": (lambda t, run: ["predict", str(run / "model.npz"), str(_picture(t)),
                                             "--save-input", str(t / "seen")], "seen", "seven-28x28-2.png"),
    "export": (lambda t, run: ["export", str(run / "model.npz"), "-o", str(t / "model.onnx")], ".",
               "model.onnx"),
}


@pytest.mark.parametrize("what", CASES)
def test_a_failed_write_keeps_the_old_file_and_says_so_in_one_line(what, tiny_run, tmp_path, disk_full,
                                                                    capsys):
    """A temporary file left behind, a half-written or removed target, or a traceback."""
    argv, folder, name = CASES[what]
    if what == "plot":
        shutil.copytree(tiny_run, tmp_path, dirs_exist_ok=True)
    argv = argv(tmp_path, tiny_run)
    folder = tmp_path / folder
    target = folder / name
    if what != "predict --save-input":               # that one never overwrites: the name is free
        target.write_bytes(OLD)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    failed = disk_full(name)
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(failed) == 1, f"{name} was never written"
    assert err[-1].startswith("digitnet: error: ") and str(target) in err[-1], err
    assert "No space left on device" in err[-1]
    assert not any(line.startswith(("digitnet: error", "Traceback")) for line in err[:-1])
    assert not failed[0].exists() and not list(folder.glob(".*.tmp"))   # the temporary file is gone
    if what != "predict --save-input":
        assert target.read_bytes() == OLD                                 # the previous version, whole
    else:
        assert not target.exists()
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert {k: v for k, v in after.items() if k in before} == before      # nothing else overwritten


@pytest.fixture
def small_network():
    import digitnet as dn

    arch = dn.Architecture(input_size=784, hidden=(4,), output_size=10)
    return dn.build_mlp(arch, np.random.default_rng(0))


def _checkpoint(path, net):
    from digitnet import TrainConfig
    from digitnet.api import arrays_dataset
    from digitnet.checkpoint import save_checkpoint
    from digitnet.train import Trainer

    data = arrays_dataset(np.zeros((10, 784), np.uint8), np.arange(10))
    return save_checkpoint(path, Trainer(TrainConfig(hidden=(4,), validation_size=0), data))


WRITERS = {
    "model.npz": lambda path, net: __import__("digitnet").save_model(path, net),
    "arrays.npz": lambda path, net: __import__("digitnet.npzfile").npzfile.save_npz(
        path, {"w": np.ones(3)}, {"format": "test"}),
    "checkpoint.npz": _checkpoint,
    "history.json": lambda path, net: __import__("digitnet.fileio").fileio.write_json(path, [1, 2]),
    "submission.csv": lambda path, net: __import__("digitnet.csvdata").csvdata.write_submission(
        path, np.arange(3)),
    "model.onnx": lambda path, net: __import__("digitnet.onnx_export").onnx_export.export_onnx(path, net),
}


@pytest.mark.parametrize("name", WRITERS)
def test_each_writer_fails_cleanly_from_python(name, tmp_path, disk_full, small_network):
    """The same from Python: the error is a DigitnetError of one line naming the file."""
    if name == "model.onnx":
        pytest.importorskip("onnx")
    target = tmp_path / name
    target.write_bytes(OLD)
    failed = disk_full(name)
    with pytest.raises(DigitnetError) as err:
        WRITERS[name](target, small_network)
    assert str(target) in str(err.value) and "\n" not in str(err.value)
    assert len(failed) == 1 and [p.name for p in tmp_path.iterdir()] == [name]
    assert target.read_bytes() == OLD
