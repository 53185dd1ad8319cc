"""Exporting a network as an ONNX graph, for onnxruntime and other ONNX runtimes.

The network becomes the textbook formulas as standard ONNX operators::

    pixels (batch, n_features)
      -> Gemm (x @ W + b) -> Relu -> ... -> Gemm -> logits (batch, K)
      -> Softmax(axis=-1)                         -> probabilities (batch, K)

Weights are stored in the graph as initializers; Dropout is the identity
outside training, so it adds no node. The batch dimension is symbolic
(``"batch"``), so any batch size runs. The model declares opset 17 and IR
version 8, those of ONNX 1.12 (2022), which onnxruntime 1.12 and later load.

The graph takes floats exactly as :meth:`digitnet.model.Network.predict_proba`
computes on them: it does not scale pixels itself. The model's metadata
(``metadata_props``) records the classes, the input size, the preprocessing
and, from a model file, its dataset and test accuracy.

The ``onnx`` package is needed only here, and imported only when an export
runs: ``pip install 'digitnet[onnx]'``.

Sources: the ONNX operators Gemm (https://onnx.ai/onnx/operators/onnx__Gemm.html),
Relu (https://onnx.ai/onnx/operators/onnx__Relu.html) and Softmax, version 13
(https://onnx.ai/onnx/operators/onnx__Softmax.html), and the IR and opset
versions table (https://onnx.ai/onnx/api/helper.html, ``VERSION_TABLE``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import __version__
from .errors import ExportError
from .fileio import atomic_open
from .layers import Dense, Dropout, ReLU
from .model import Network
from .modelfile import _json_classes

if TYPE_CHECKING:
    import onnx

OPSET = 17          # ONNX 1.12 (2022); onnxruntime >= 1.12 runs it
IR_VERSION = 8      # ONNX 1.12's: the oldest IR that carries opset 17, so the most widely loaded
INPUT = "pixels"
# A serialised ONNX model is one protobuf message, which cannot exceed 2 GiB;
# larger weights would need ONNX's external-data files, which this exporter
# does not write. Checked before anything is built.
MAX_WEIGHT_BYTES = 2**31 - 2**24

PREPROCESSING = {
    "input": "float rows (batch, n_features), exactly the floats digitnet's predict_proba computes "
             "on; the graph itself does no scaling",
    "scale": "uint8 pixels / 255 -> floats in [0, 1]; floats as given",
}
IMAGES = {
    "mnist": "28x28 grayscale images flattened row by row (row-major) to 784 values: light ink "
             "(1.0) on a black background (0.0), the digit fitted in a 20x20 box and centred by "
             "centre of mass, as in MNIST (digitnet.preprocess.to_mnist does this to any picture)",
    "fashion-mnist": "28x28 grayscale images flattened row by row (row-major) to 784 values: a "
                     "light object on a black background (0.0), as in Fashion-MNIST",
}


def _require_onnx() -> None:
    """Raise an ExportError saying how to install onnx when it is missing."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ExportError("ONNX export needs the onnx package: pip install 'digitnet[onnx]'") from None


def to_onnx(model: Any, *, hidden_outputs: bool = False, dtype: Any = np.float32,
            metadata: dict | None = None) -> onnx.ModelProto:
    """The network as a checked ONNX model: Gemm and Relu, then Softmax.

    Parameters
    ----------
    model : Network or DigitnetClassifier
        Made of Dense, ReLU and Dropout layers (every layer digitnet has); a
        fitted :class:`~digitnet.estimator.DigitnetClassifier` exports its
        ``network_`` and records its ``feature_names_in_``.
    hidden_outputs : bool
        Also output ``hidden1``, ``hidden2``, ...: each hidden ReLU's output
        (batch, H_i), the arrays :meth:`Network.activations` returns.
    dtype : float32 (default) or float64
        The graph's float type, for the input, the weights and the outputs.
        float32 is what every ONNX runtime runs: a float64 network's weights
        are converted (the metadata says so). ``np.float64`` keeps a float64
        network exact, for runtimes with double kernels: onnxruntime 1.18 and
        later run it; 1.16 and 1.17 refuse it when the session is created
        (their optimizer fuses Gemm and Relu into a float-only kernel) unless
        the session's graph optimization level is ``ORT_ENABLE_BASIC``.
    metadata : dict, optional
        The model file's metadata, as :func:`digitnet.load_model` returns it;
        its dataset, preset, test accuracy and weights' SHA-256 are recorded.

    Returns
    -------
    onnx.ModelProto
        Opset 17, IR version 8, checked with ``onnx.checker.check_model(...,
        full_check=True)``. Input ``pixels`` (batch, n_features); outputs
        ``logits`` (batch, K), ``probabilities`` (batch, K) and, on request,
        ``hidden1``... (batch, H_i). ``metadata_props`` hold ``classes`` (a
        JSON list, in the order of the output columns), ``n_features``,
        ``preprocessing`` (JSON), ``dtype``, ``layers`` (JSON) and, from
        ``metadata``, ``dataset``, ``preset``, ``test_accuracy``,
        ``source_sha256`` and ``feature_names`` (a JSON list: the columns of a
        :class:`~digitnet.estimator.DigitnetClassifier` fitted on a DataFrame).

    Raises
    ------
    ExportError
        A layer without an ONNX translation (named in the message), weights
        that are NaN or infinite, over ONNX's 2 GiB limit or beyond float32's
        range, or onnx not installed.

    Notes
    -----
    Dense's ``y = x @ W + b`` with ``W`` (fan_in, fan_out) is exactly ONNX's
    ``Gemm(A=x, B=W, C=b)`` with its defaults (``alpha = beta = 1``, no
    transposes, ``C`` broadcast over the rows). Softmax (opset 13 and later)
    normalises along one axis, here the last.

    Examples
    --------
    >>> import digitnet as dn
    >>> net = dn.build_mlp(dn.Architecture(input_size=4, hidden=(8,), output_size=3),
    ...                    np.random.default_rng(0))
    >>> [o.name for o in to_onnx(net).graph.output]
    ['logits', 'probabilities']
    """
    _require_onnx()
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if hasattr(model, "network_"):   # a fitted DigitnetClassifier: its network, and its columns
        names = getattr(model, "feature_names_in_", None)
        if names is not None:
            metadata = {**(metadata or {}), "estimator": {"feature_names_in": [str(n) for n in names]}}
        model = model.network_
    if not isinstance(model, Network):
        raise ExportError(f"cannot export a {type(model).__name__}: pass a digitnet Network "
                          "or a fitted DigitnetClassifier")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise ExportError(f"ONNX export writes float32 or float64, not {dtype!r}") from None
    if dtype not in (np.float32, np.float64):
        raise ExportError(f"ONNX export writes float32 or float64, not {dtype}")
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    if not all(np.isfinite(p).all() for p in model.parameters()):
        raise ExportError("the network's weights hold NaN or infinite values (did training diverge?); "
                          "nothing was exported")
    weight_bytes = sum(p.size for p in model.parameters()) * dtype.itemsize
    if weight_bytes > MAX_WEIGHT_BYTES:
        raise ExportError(f"the weights take {weight_bytes / 2**30:.1f} GiB; an ONNX file holds at most "
                          "2 GiB (external data files are not supported)")

    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    hidden: list[str] = []     # the ReLUs' outputs, hidden1, hidden2, ...
    x = INPUT
    n_dense = n_relu = 0
    for i, layer in enumerate(model.layers):
        # Exact types: a subclass may compute something else, and would be exported wrong.
        if type(layer) is Dense:
            W, b = (_cast(layer.params[k], dtype, f"layer {i} ({layer!r})") for k in ("W", "b"))
            names = [f"dense{n_dense}.W", f"dense{n_dense}.b"]
            initializers += [numpy_helper.from_array(W, names[0]), numpy_helper.from_array(b, names[1])]
            y = f"dense{n_dense}"
            # y = x @ W + b: W is (fan_in, fan_out), so no transB
            nodes.append(helper.make_node("Gemm", [x, *names], [y], name=f"dense{n_dense}"))
            n_dense += 1
        elif type(layer) is ReLU:
            n_relu += 1
            y = f"hidden{n_relu}"
            nodes.append(helper.make_node("Relu", [x], [y], name=f"relu{n_relu}"))
            hidden.append(y)
        elif type(layer) is Dropout:
            continue   # the identity at inference
        else:
            raise ExportError(f"layer {i} ({type(layer).__name__}) has no ONNX translation: the "
                              "exporter knows Dense, ReLU and Dropout")
        x = y
    # The last layer's output is the logits: rename it (a final ReLU keeps its hidden name too).
    if hidden and hidden[-1] == x:
        nodes.append(helper.make_node("Identity", [x], ["logits"], name="logits"))
    else:
        nodes[-1].output[0] = "logits"
    nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=-1))

    K = model.n_classes
    inputs = [helper.make_tensor_value_info(
        INPUT, elem, ["batch", model.n_features_in],
        doc_string="floats, one row per sample; uint8 pixels must be divided by 255 first")]
    outputs = [
        helper.make_tensor_value_info("logits", elem, ["batch", K],
                                      doc_string="the last layer's output, before the softmax"),
        helper.make_tensor_value_info("probabilities", elem, ["batch", K],
                                      doc_string="softmax of the logits; columns in the order of `classes`"),
    ]
    if hidden_outputs:
        widths = _hidden_widths(model)
        outputs += [helper.make_tensor_value_info(name, elem, ["batch", width],
                                                  doc_string=f"output of hidden ReLU {k}")
                    for k, (name, width) in enumerate(zip(hidden, widths), start=1)]

    graph = helper.make_graph(nodes, "digitnet", inputs, outputs, initializer=initializers,
                              doc_string=f"digitnet network {'-'.join(map(str, model.sizes))}")
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
        producer_name="digitnet", producer_version=__version__,
        doc_string="A digitnet multilayer perceptron: Gemm and Relu layers, then Softmax.")
    helper.set_model_props(onnx_model, _metadata_props(model, dtype, metadata))
    try:
        onnx.checker.check_model(onnx_model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
        raise ExportError(f"the ONNX graph failed onnx.checker: {err}") from None
    return onnx_model


def export_onnx(path: str | Path, model: Any, *, hidden_outputs: bool = False, dtype: Any = np.float32,
                metadata: dict | None = None) -> Path:
    """Write ``model`` as an ONNX file at ``path``, atomically.

    The graph is built and checked in full (see :func:`to_onnx`, whose
    keywords these are) before anything is written; the file then goes to a
    temporary name in the same folder and is renamed over ``path``. So an
    export that fails leaves no file, and an existing ``path`` intact.

    Returns
    -------
    Path

    Raises
    ------
    ExportError
        As :func:`to_onnx`, or ``path`` cannot be written.

    Examples
    --------
    >>> import digitnet as dn
    >>> net, meta = dn.load_model("models/mnist-best-augmented.npz")
    >>> export_onnx("mnist.onnx", net, metadata=meta)
    PosixPath('mnist.onnx')
    """
    data = to_onnx(model, hidden_outputs=hidden_outputs, dtype=dtype, metadata=metadata).SerializeToString()
    path = Path(path)
    try:
        with atomic_open(path, "wb") as f:
            f.write(data)
    except OSError as err:
        raise ExportError(f"{path}: cannot write ({err.strerror or err})") from None
    return path


def _cast(array: np.ndarray, dtype: np.dtype, where: str) -> np.ndarray:
    """``array`` as ``dtype``; values that overflow float32 are an error, not infinities."""
    if array.dtype == dtype:
        return array
    with np.errstate(over="ignore"):
        out = array.astype(dtype)
    if not np.isfinite(out).all() and np.isfinite(array).all():
        raise ExportError(f"{where} has weights beyond the range of {dtype}; export it as float64")
    return out


def _hidden_widths(model: Network) -> list[int]:
    """Each ReLU's width: that of the Dense output it follows."""
    widths, width = [], model.n_features_in
    for layer in model.layers:
        if type(layer) is Dense:
            width = int(layer.params["W"].shape[1])
        elif type(layer) is ReLU:
            widths.append(width)
    return widths


def _metadata_props(model: Network, dtype: np.dtype, metadata: dict | None) -> dict[str, str]:
    """The strings ONNX keeps in ``metadata_props``: what a user of the file needs to know."""
    meta = metadata or {}
    dataset = meta.get("dataset") if isinstance(meta.get("dataset"), str) else None
    preprocessing = dict(PREPROCESSING)
    if dataset in IMAGES and model.n_features_in == 784:
        preprocessing["images"] = IMAGES[dataset]
    converted = dtype != model.dtype
    props = {
        "classes": json.dumps(_json_classes(model.classes), ensure_ascii=False),
        "n_features": str(model.n_features_in),
        "preprocessing": json.dumps(preprocessing),
        "dtype": str(dtype) + (f" (weights converted from the network's {model.dtype})" if converted else ""),
        "layers": json.dumps(model.spec()),
    }
    estimator = meta.get("estimator")
    names = estimator.get("feature_names_in") if isinstance(estimator, dict) else None
    if isinstance(names, list) and len(names) == model.n_features_in:
        props["feature_names"] = json.dumps(names, ensure_ascii=False)   # a DigitnetClassifier's columns
    metrics = meta.get("metrics")
    accuracy = metrics.get("test_accuracy") if isinstance(metrics, dict) else None
    found = {"dataset": dataset, "preset": meta.get("preset"),
             "test_accuracy": accuracy, "source_sha256": meta.get("content_sha256")}
    props.update({key: str(value) for key, value in found.items()
                  if isinstance(value, (str, int, float)) and not isinstance(value, bool)})
    return props
