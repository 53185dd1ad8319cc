"""digitnet: a neural network that reads handwritten digits, from scratch in NumPy.

The public API::

    from digitnet import load_dataset, preset, train, evaluate, save_model, load_model
"""

__version__ = "0.1.0"

from .config import PRESETS, TrainConfig, preset
from .data import Dataset, load_dataset, scale_images
from .errors import (ConfigError, DataError, DigitnetError, ImageError, ModelFileError,
                     TrainingDiverged)
from .layers import Dense, Dropout, ReLU
from .losses import SoftmaxCrossEntropy, log_softmax, softmax
from .model import Architecture, Network, build_mlp
from .optim import SGD, Adam, make_optimizer
from .train import TrainResult, train

__all__ = [
    "Adam", "Architecture", "ConfigError", "DataError", "Dataset", "Dense", "DigitnetError",
    "Dropout", "ImageError", "ModelFileError", "Network", "PRESETS", "ReLU", "SGD",
    "SoftmaxCrossEntropy", "TrainConfig", "TrainResult", "TrainingDiverged", "build_mlp",
    "load_dataset", "log_softmax", "make_optimizer", "preset", "scale_images", "softmax", "train",
]
