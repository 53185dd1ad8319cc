"""The ``digitnet`` command line: train, evaluate, predict, plot, gradcheck, export, serve, sweep.

Human-readable output goes to stdout. With ``--json`` the last line on
stdout is one JSON object and progress lines go to stderr. Problems a user
can fix are printed as one line on stderr with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .config import PRESETS, TrainConfig, preset
from .data import DATASETS, load_dataset
from .errors import ConfigError, DataError, DigitnetError, ImageError, InputError, TrainingInterrupted


def _hidden(text: str) -> tuple[int, ...]:
    try:   # 128,64 or 128x64 (as digitnet sweep's --grid writes sizes)
        sizes = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers like 128,64, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive, got {text!r}")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digitnet", description="Learn to read handwritten digits with a neural network in NumPy.")
    parser.add_argument("--version", action="version", version=f"digitnet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a network and evaluate it on the test set")
    train.add_argument("--preset", default="quick", choices=sorted(PRESETS),
                       help="named configuration (default: quick); flags below override it")
    _config_flags(train)
    train.add_argument("--data-dir", type=Path,
                       help="folder holding the IDX files, a labelled CSV file (Kaggle's train.csv), or a "
                            "folder of your own pictures in class subfolders (0/ 1/ ... 9/)")
    train.add_argument("--out", type=Path, help="output folder (default runs/<preset>-<time>)")
    train.add_argument("--checkpoint-every", type=int, metavar="N",
                       help="write OUT/checkpoint.npz every N epochs (Ctrl-C always writes one)")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR",
                       help="continue the run in RUN_DIR from its checkpoint, up to --epochs")
    train.add_argument("--init", type=Path, metavar="MODEL",
                       help="start from this model file's weights with a fresh optimizer: fine-tune a "
                            "shipped model on your own pictures, or go on from a finished run's model.npz")
    train.add_argument("--no-plots", action="store_true", help="skip writing the PNG plots")
    train.add_argument("--json", action="store_true", help="print a JSON summary as the last line")

    evaluate = commands.add_parser("evaluate", help="evaluate a model on the full test set")
    evaluate.add_argument("model", type=Path)
    _data_flags(evaluate)
    evaluate.add_argument("--json", action="store_true")

    predict = commands.add_parser("predict", help="read digits from PNG or JPEG images, or CSV rows")
    predict.add_argument("model", type=Path)
    predict.add_argument("images", type=Path, nargs="+", metavar="IMAGE",
                         help="pictures, folders of pictures, or CSV files of pixel rows (Kaggle's "
                              "test.csv, mnist_test.csv)")
    predict.add_argument("--submission", type=Path, metavar="CSV",
                         help="with one CSV file of images: write Kaggle's submission file ImageId,Label")
    predict.add_argument("--save-input", type=Path, metavar="DIR",
                         help="also write the 28x28 image the network sees, as PNG, into DIR "
                              "(never over an existing file)")
    predict.add_argument("--number", action="store_true",
                         help="read every digit in each picture, left to right, as one number")
    predict.add_argument("--min-confidence", type=float, default=0.0, metavar="P",
                         help="below this top probability the answer is 'unsure' instead of a guess "
                              "(0-1; digitnet evaluate prints the accuracy each threshold gives)")
    predict.add_argument("--json", action="store_true")

    plot = commands.add_parser("plot", help="(re)draw the plots of a training run")
    plot.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    _data_flags(plot)

    gradcheck = commands.add_parser("gradcheck", help="verify backpropagation numerically")
    gradcheck.add_argument("--seed", type=int, default=0)
    gradcheck.add_argument("--hidden", type=_hidden, default=(16, 12))

    export = commands.add_parser("export", help="write a model as an ONNX graph, for onnxruntime")
    export.add_argument("model", type=Path)
    export.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                        help="the ONNX file to write, e.g. model.onnx")
    export.add_argument("--hidden-outputs", action="store_true",
                        help="also output every hidden layer's activations (hidden1, hidden2, ...)")
    export.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="the graph's floats (default float32; float64 keeps a float64 network's "
                             "weights exact but needs a runtime with double kernels)")

    serve = commands.add_parser("serve", help="start the draw-a-digit web page")
    serve.add_argument("model", type=Path, nargs="?",
                       help="model file (default: models/mnist-best-augmented.npz in the current "
                            "folder or the repository)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--data-dir", type=Path, help="folder holding the test set's IDX files")

    from .sweep.command import add_parser as add_sweep_parser  # Dask and Optuna load only when a sweep runs

    add_sweep_parser(commands, _config_flags)
    return parser


# Configuration fields that are not flags: set by --preset (preset) or only
# meaningful from Python.
NOT_FLAGS = ("preset",)


def _config_flags(parser, skip: tuple[str, ...] = ()) -> None:
    """One flag per TrainConfig field (``lr`` -> ``--lr``), help and choices from the field."""
    for f in dataclasses.fields(TrainConfig):
        if f.name in NOT_FLAGS + skip:
            continue
        kind = type(f.default) if f.default is not None else int
        options = {"help": f.metadata.get("help"), "choices": f.metadata.get("choices"),
                   "metavar": f.metadata.get("metavar"), "type": {tuple: _hidden}.get(kind, kind)}
        parser.add_argument("--" + f.name.replace("_", "-"),
                            **{k: v for k, v in options.items() if v is not None})


def _data_flags(parser, dataset_help="a dataset by name (default: the model's)"):
    parser.add_argument("--dataset", choices=sorted(DATASETS), help=dataset_help)
    parser.add_argument("--data-dir", type=Path,
                        help="folder holding the IDX files, a labelled CSV file, or a folder of your own "
                             "pictures in class subfolders (0/ 1/ ... 9/)")


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the exit status.

    One exception: a training run stopped by SIGINT/SIGTERM saves its
    checkpoint and then ends the process itself (status 130/143), so that a
    further Ctrl-C during interpreter shutdown cannot print a traceback.
    """
    args = build_parser().parse_args(argv)
    from .sweep.command import cmd_sweep
    from .web.serve import cmd_serve  # imports nothing of the web stack until it runs

    handler = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
               "plot": cmd_plot, "gradcheck": cmd_gradcheck, "export": cmd_export,
               "serve": cmd_serve, "sweep": cmd_sweep}[args.command]
    try:
        return handler(args) or 0
    except DigitnetError as err:
        print(f"digitnet: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("digitnet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _printer(as_json: bool):
    """Human lines go to stdout, or to stderr when stdout is reserved for JSON."""
    stream = sys.stderr if as_json else sys.stdout
    return lambda line: print(line, file=stream, flush=True)


def _config_from_args(args):
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
                 if f.name not in NOT_FLAGS and getattr(args, f.name) is not None}
    config = dataclasses.replace(preset(args.preset), **overrides)
    if args.patience == 0:
        config.patience = None
    return config.validate()


RESUMABLE_FLAGS = ("epochs", "checkpoint_every", "data_dir", "json", "no_plots", "resume")


def _resume_config(args):
    from .checkpoint import load_checkpoint
    from .runs import checkpoint_path

    checkpoint = load_checkpoint(checkpoint_path(args.resume))
    changed = [name for name, value in vars(args).items()
               if name not in RESUMABLE_FLAGS + ("command", "preset") and value not in (None, False)]
    if changed or args.preset != "quick" or args.out not in (None, args.resume):
        raise ConfigError("--resume continues a run with its own settings; only --epochs, "
                          "--checkpoint-every and --data-dir may be given with it")
    config = TrainConfig.from_dict(checkpoint.meta["config"])
    if args.epochs is not None:
        config.epochs = args.epochs
    return config.validate(), checkpoint


def _describing(config: TrainConfig, model) -> TrainConfig:
    """``config`` with the layers of ``model``, so that the run's record (and ``--resume``) rebuild it."""
    from .layers import Dense, Dropout

    rates = [(i, layer.p) for i, layer in enumerate(model.layers) if isinstance(layer, Dropout)]
    first_dense = next(i for i, layer in enumerate(model.layers) if isinstance(layer, Dense))
    return dataclasses.replace(config, hidden=tuple(model.sizes[1:-1]), dtype=model.dtype.name,
                               input_dropout=next((p for i, p in rates if i < first_dense), 0.0),
                               dropout=next((p for i, p in rates if i > first_dense), 0.0))


def cmd_train(args) -> int:
    from .hooks import ProgressBar, StopOnRequest
    from .runs import default_dir, train_run
    from .stop_signals import StopRequests

    checkpoint = None
    if args.resume and args.init is not None:
        raise ConfigError("--init starts from a model's weights; --resume continues a checkpoint: "
                          "give one of them")
    if args.resume:
        config, checkpoint = _resume_config(args)
        out = args.resume
        source = checkpoint.meta.get("data", {}).get("source")
        if args.data_dir is None and source and Path(source).exists():   # the run's own CSV or pictures
            args.data_dir = Path(source)
    else:
        config = _config_from_args(args)
        out = args.out or default_dir(args.preset)
    model = None
    if args.init is not None:
        from .modelfile import load_model

        shape = [flag for flag in ("hidden", "dropout", "input_dropout", "dtype")
                 if getattr(args, flag) is not None]
        if shape:
            raise ConfigError(f"--init takes the network from {args.init}: drop "
                              + ", ".join("--" + flag.replace("_", "-") for flag in shape))
        init = args.init / "model.npz" if args.init.is_dir() else args.init   # a run folder
        model, _ = load_model(init)
        config = _describing(config, model)
    stop = StopRequests(_printer(True))  # to stderr
    hooks = [StopOnRequest(stop)]
    if sys.stderr.isatty() and not args.json:
        hooks.insert(0, ProgressBar())
    stop.install()
    try:
        run = train_run(config, out, data_dir=args.data_dir, hooks=hooks, resume=checkpoint,
                        checkpoint_every=args.checkpoint_every, log=_printer(args.json),
                        plots=not args.no_plots, model=model,
                        auto_validation=_auto_validation(args, config))
        stop.restore()
    except TrainingInterrupted as err:
        status = 128 + stop.signal_number
        stop.exit_on_next(status)
        print(f"digitnet: {err}", file=sys.stderr)
        if err.checkpoint:
            print(f"resume with: digitnet train --resume {out}", file=sys.stderr)
        # Leave now: the interpreter's shutdown would reset the signal handlers,
        # and a further Ctrl-C there would end the process with a traceback.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    if args.json:
        result, report = run.result, run.report
        print(json.dumps({
            "test_accuracy": report["test_accuracy"], "accuracy_ci95": report["accuracy_ci95"],
            "train_seconds": result.train_seconds, "epochs": len(result.history),
            "best_epoch": result.best_epoch, "stopped_early": result.stopped_early,
            "final_train_loss": result.final_train_loss, "model": str(run.files[0]), "out": str(out),
            "plots": [str(p) for p in run.files[3:]], "config": config.to_dict(), "history": result.history,
        }))
    return 0


def _auto_validation(args, config: TrainConfig) -> bool:
    """Whether a small set of one's own may validate on a tenth: no --validation-size given (and,
    resuming, none given when the run began, so the split is made again as it was)."""
    if getattr(args, "validation_size", None) is not None:
        return False
    return not args.resume or config.validation_size == TrainConfig().validation_size


def _load_model_and_data(model_path: Path, dataset: str | None, data_dir: Path | None):
    from .modelfile import load_model

    model, meta = load_model(model_path)
    return model, meta, _test_data(model, meta, str(model_path), dataset, data_dir)


def _test_data(model, meta: dict, what: str, dataset: str | None, data_dir: Path | None):
    """The labelled data to judge ``model`` on: a CSV file, a picture folder, or a dataset's test split."""
    from .csvdata import is_csv
    from .folders import is_picture_folder

    if data_dir is not None and (is_csv(data_dir) or is_picture_folder(data_dir)):
        _warn_if_trained_on(meta, what, data_dir)
    if data_dir is not None and is_csv(data_dir):
        return _labelled_csv(data_dir, model.n_features_in)
    if data_dir is not None and is_picture_folder(data_dir):   # my-digits/0/*.png ... 9/*.png
        from .data import test_only_dataset
        from .folders import read_picture_folder

        pictures = read_picture_folder(data_dir)
        for line in pictures.skipped:
            print(f"digitnet: skipped {line}", file=sys.stderr)
        return test_only_dataset(data_dir.name, str(data_dir), pictures.images, pictures.labels)
    name = dataset or meta.get("dataset", "mnist")
    if name not in DATASETS:
        raise DataError(f"{what} was trained on {name}: give labelled test data with "
                        "--data-dir FILE.csv or a folder of pictures, or --dataset mnist")
    from .data import unverified_note

    data = load_dataset(name, data_dir, validation_size=0, splits=("test",))   # the test set only
    if data.unverified:
        print(f"digitnet: {unverified_note(data)}", file=sys.stderr)
    return data


def _warn_if_trained_on(meta: dict, what: str, data_dir: Path) -> None:
    """A CSV file or picture folder a model was trained on holds its training examples too: say so."""
    source = meta.get("data_source")
    if source and Path(source).resolve() == data_dir.resolve():
        held_out = (meta.get("metrics") or {}).get("test_accuracy")
        figure = f" ({100 * held_out:.2f}%)" if held_out is not None else ""
        print(f"digitnet: note: {what} was trained on part of {data_dir}: this figure counts its "
              f"training examples too; the held-out test figure{figure} is in the run's report.json",
              file=sys.stderr)


def _labelled_csv(path: Path, n_features: int):
    """A labelled CSV file (mnist_test.csv, Kaggle's train.csv) as a test-only Dataset."""
    from .csvdata import read_labelled_csv
    from .data import test_only_dataset

    images, labels = read_labelled_csv(path, n_features, purpose="evaluating")
    return test_only_dataset(path.name, str(path), images, labels)


def cmd_evaluate(args) -> int:
    from .api import evaluate_indices
    from .metrics import format_report

    model, meta, data = _load_model_and_data(args.model, args.dataset, args.data_dir)
    try:
        report, _ = evaluate_indices(model, data.x_test, data.y_test, data.classes)
    except InputError as err:                  # a label the network does not know: name the data
        raise DataError(f"{data.source}: {err}") from None
    if args.json:
        print(json.dumps({"model": str(args.model), "dataset": data.name, **report}))
    else:
        print(f"{args.model}: {'-'.join(map(str, model.sizes))} on the {data.name} "
              f"test set ({len(data.x_test):,} images)")
        print(format_report(report, model.classes))   # the report's indices are the model's classes
    return 0


def cmd_predict(args) -> int:
    """Read every picture (or CSV row) given; one bad file never loses the others' results."""
    from .modelfile import load_model

    model, meta = load_model(args.model)
    if args.submission is not None:
        return _submission(model, args)
    if not 0.0 <= args.min_confidence <= 1.0:
        raise ConfigError(f"--min-confidence must be in [0, 1], got {args.min_confidence}")
    saver = _InputSaver(args.save_input) if args.save_input else None
    args.image_shape = meta.get("image_shape")          # 28x28 for MNIST; 8x8 for an 8x8 set
    predictions = []
    for name, path in _expand(args.images):
        for entry in _read_item(model, name, path, args):
            predictions.append(entry)
            inputs = entry.pop("inputs", [])
            if saver is not None and inputs:
                entry["saved"] = [str(saver.save(path, x, k if len(inputs) > 1 else None))
                                  for k, x in enumerate(inputs)]
            if not args.json:
                _print_reading(entry)
                for saved in entry.get("saved", []):
                    print(f"  saved the input as {saved}")
    if args.json:
        print(json.dumps({"model": str(args.model), "predictions": predictions}))
    return 1 if any("error" in entry for entry in predictions) else 0


def _expand(paths: list[Path]):
    """``(name, path)`` for each argument; a folder gives the pictures inside it (sorted, recursively)."""
    from .folders import PICTURE_SUFFIXES

    for path in paths:
        if not path.is_dir():
            yield str(path), path
            continue
        pictures = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES
                          and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not pictures:
            yield str(path), None                 # reported as an error entry
        for picture in pictures:
            yield str(picture), picture


def _read_item(model, name: str, path: Path | None, args):
    """The entries for one argument: one per picture, one per CSV row, or one error."""
    from .csvdata import data_lines, is_csv, read_digits_csv
    from .folders import PICTURE_SUFFIXES
    from .inputs import to_float
    from .recognise import read_picture

    try:
        if path is None:
            raise ImageError(f"{name}: folder holds no pictures ({', '.join(PICTURE_SUFFIXES)})")
        if is_csv(path):   # one image per row: pixels as the network takes them, no preprocessing
            table = read_digits_csv(path, model.n_features_in)
            probs = model.predict_proba(to_float(table.images, model.dtype))          # (rows, K)
            lines = data_lines(path, table.skip)
            for line, p in zip(lines, probs):
                yield {"image": f"{name} line {line}", **_csv_answer(model, p, args.min_confidence)}
            return
        result = read_picture(model, path, number=args.number, min_confidence=args.min_confidence,
                              image_shape=args.image_shape)
    except DigitnetError as err:
        message = str(err)
        yield {"image": name, "error": message if message.startswith(name) else f"{name}: {message}"}
        return
    except Exception as err:   # noqa: BLE001 - a bug on one picture must not lose the others' answers
        yield {"image": name, "error": f"{name}: could not be read ({type(err).__name__}: {str(err)[:120]}); "
                                       "please report it"}
        return
    yield {"image": name, **result}


def _csv_answer(model, p: np.ndarray, min_confidence: float) -> dict:
    from .recognise import _answer

    answer = _answer(p, [str(c) for c in model.classes], min_confidence)
    return {"status": "ok" if answer["digit"] is not None else "unsure", **answer}


def _print_reading(entry: dict) -> None:
    """One line per picture: the answer and the top three, the number, or why there is none."""
    name = entry["image"]
    if "error" in entry:
        print(f"digitnet: {entry['error']}", file=sys.stderr)
        return
    status = entry["status"]
    if status == "no digit":
        print(f"{name}: no digit ({entry['reason']})")
    elif "number" in entry:
        parts = ", ".join(f"{d['label'] or '?'} {100 * d['confidence']:.0f}%" for d in entry["digits"])
        print(f"{name}: {entry['number']}   ({parts})")
    elif status == "several digits":
        print(f"{name}: {entry['warning']}")
    elif status == "unsure":
        guess = entry["guess"]["label"]
        print(f"{name}: unsure (best guess {guess} at {100 * entry['confidence']:.1f}%, "
              "below --min-confidence)")
    else:
        others = ", ".join(f"{t['label']} {100 * t['probability']:.1f}%" for t in entry["top3"])
        print(f"{name}: {entry['label']}   (top 3: {others})")


class _InputSaver:
    """Writes the 28x28 inputs as PNG into a folder, never over an existing file."""

    def __init__(self, folder: Path):
        self.folder = folder

    def save(self, picture: Path, x: np.ndarray, index: int | None) -> Path:
        from PIL import Image

        from .fileio import atomic_open

        self.folder.mkdir(parents=True, exist_ok=True)
        stem = picture.stem + (f"-digit{index + 1}" if index is not None else "")
        size = "x".join(map(str, x.shape))               # 28x28 for MNIST
        target, n = self.folder / f"{stem}-{size}.png", 1
        while target.exists():                   # a.png from two folders: digit-28x28-2.png
            n += 1
            target = self.folder / f"{stem}-{size}-{n}.png"
        with atomic_open(target, "wb") as f:
            Image.fromarray((x * 255).round().astype(np.uint8)).save(f, format="PNG")
        return target


def _submission(model, args) -> int:
    """``predict MODEL test.csv --submission OUT``: Kaggle's ImageId,Label file for one CSV."""
    from .csvdata import is_csv, read_digits_csv, write_submission

    if len(args.images) != 1 or not is_csv(args.images[0]):
        raise ConfigError("--submission writes one row per image of one CSV file: give exactly one "
                          "CSV file, e.g. digitnet predict MODEL test.csv --submission submission.csv")
    if args.submission.resolve() == args.images[0].resolve():
        raise ConfigError(f"{args.submission}: the submission would overwrite its own input")
    table = read_digits_csv(args.images[0], model.n_features_in)
    labels = model.predict(table.images)
    write_submission(args.submission, labels)
    counts = ", ".join(f"{c}: {n}" for c, n in zip(*np.unique(labels, return_counts=True)))
    print(f"wrote {args.submission}: {len(labels):,} predictions for {args.images[0]} ({counts})")
    return 0


def cmd_plot(args) -> int:
    from .api import evaluate_indices
    from .plots import plot_run
    from .runs import read_run

    run = read_run(args.run_dir)
    data = _test_data(run.model, run.meta, str(args.run_dir), args.dataset, args.data_dir)
    report, probs = evaluate_indices(run.model, data.x_test, data.y_test, data.classes)
    config = run.meta.get("config", {})
    every = config.get("log_every", 1) if config.get("batch_size") == 0 else 1
    for path in plot_run(args.run_dir, run.history, report, run.model, data, probs, log_every=every):
        print(f"wrote {path}")
    return 0


def cmd_gradcheck(args) -> int:
    from .gradcheck import check_network

    results = check_network(hidden=args.hidden, seed=args.seed)
    print("Backpropagation vs central finite differences (float64, h = 1e-5)")
    print(f"network 20-{'-'.join(map(str, args.hidden))}-10, softmax cross-entropy, batch of 8\n")
    print(f"{'parameter':<12} {'shape':<12} {'relative error':>14}")
    worst = 0.0
    for name, shape, error in results:
        worst = max(worst, error)
        print(f"{name:<12} {str(shape):<12} {error:>14.2e}")
    ok = worst < 1e-6
    print(f"\nworst {worst:.2e}: " + ("backprop agrees with the numerical gradient" if ok
                                   else "MISMATCH: the analytic gradient is wrong"))
    return 0 if ok else 1


def cmd_export(args) -> int:
    from .errors import ExportError
    from .layers import ReLU
    from .modelfile import load_model
    from .onnx_export import IR_VERSION, OPSET, export_onnx

    if args.output.resolve() == args.model.resolve():
        raise ExportError(f"{args.output}: the ONNX file would overwrite the model file")
    model, meta = load_model(args.model)
    path = export_onnx(args.output, model, hidden_outputs=args.hidden_outputs, dtype=args.dtype,
                       metadata=meta)
    n_hidden = sum(type(layer) is ReLU for layer in model.layers) if args.hidden_outputs else 0
    outputs = ["logits", "probabilities"] + [f"hidden{i}" for i in range(1, n_hidden + 1)]
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): ONNX opset {OPSET}, IR version "
          f"{IR_VERSION}, network {'-'.join(map(str, model.sizes))}, input pixels "
          f"{args.dtype} (batch, {model.n_features_in}), outputs {', '.join(outputs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
