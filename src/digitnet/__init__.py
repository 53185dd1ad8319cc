"""digitnet: a neural network that reads handwritten digits, from scratch in NumPy.

The public API::

    import digitnet as dn
    net = dn.fit(X, y, hidden=(128,), epochs=10)     # X (n_samples, n_features): uint8 or floats
    net.predict(X_new); net.predict_proba(X_new)
    dn.evaluate(net, X_test, y_test)                 # accuracy, CI, per-class scores, confusion
    dn.save_model("model.npz", net); net, meta = dn.load_model("model.npz")

and for MNIST the command line's own path: ``dn.train(dn.preset("quick"), dn.load_dataset())``.
With scikit-learn: ``from digitnet.estimator import DigitnetClassifier``; to ONNX:
``digitnet.onnx_export.export_onnx(path, net)``.
"""

__version__ = "0.2.0"

from .api import evaluate, fit
from .config import PRESETS, TrainConfig, preset
from .data import Dataset, load_dataset
from .errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DigitnetError,
    ExportError,
    ImageError,
    InputError,
    ModelFileError,
    TrainingDiverged,
    TrainingInterrupted,
)
from .hooks import Checkpointing, EarlyStopping, Hook, OnEpochEnd, ProgressBar, StopOnRequest
from .layers import Dense, Dropout, Layer, ReLU, register_layer
from .losses import SoftmaxCrossEntropy, log_softmax, softmax
from .model import Architecture, Network, build_mlp
from .modelfile import load_model, save_model
from .optim import SGD, Adam, Optimizer, make_optimizer
from .train import Trainer, TrainResult, train, train_step

__all__ = [
    "PRESETS", "SGD", "Adam", "Architecture", "CheckpointError", "Checkpointing", "ConfigError",
    "DataError", "Dataset", "Dense", "DigitnetError", "Dropout", "EarlyStopping", "ExportError", "Hook",
    "ImageError",
    "InputError", "Layer", "ModelFileError", "Network", "OnEpochEnd", "Optimizer", "ProgressBar", "ReLU",
    "SoftmaxCrossEntropy", "StopOnRequest", "TrainConfig", "TrainResult", "Trainer", "TrainingDiverged",
    "TrainingInterrupted", "build_mlp", "evaluate", "fit", "load_dataset", "load_model", "log_softmax",
    "make_optimizer", "preset", "register_layer", "save_model", "softmax", "train", "train_step",
]
