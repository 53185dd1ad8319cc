"""ONNX export: the graph onnxruntime runs gives digitnet's answers, image for image."""

import json
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import digitnet as dn
from digitnet import cli
from digitnet.errors import ExportError
from digitnet.inputs import to_float
from digitnet.onnx_export import IMAGES, PREPROCESSING, export_onnx, to_onnx

from conftest import REPO

SHIPPED = ["mnist-best", "mnist-best-augmented"]


# onnxruntime 1.16 and 1.17 fuse Gemm and Relu into a kernel that has no float64 version and
# refuse float64 graphs at default optimization; the basic level leaves the graph as written.
DOUBLE_NEEDS_BASIC = tuple(int(part) for part in ort.__version__.split(".")[:2]) < (1, 18)


def session(model_or_path, basic=False):
    source = model_or_path.SerializeToString() if isinstance(model_or_path, onnx.ModelProto) \
        else str(model_or_path)
    options = ort.SessionOptions()
    if basic:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run(model_or_path, x, names=None):
    """Outputs by name for a float batch ``x``."""
    sess = session(model_or_path, basic=x.dtype == np.float64 and DOUBLE_NEEDS_BASIC)
    names = names or [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, {"pixels": x})))


def props(model):
    return {p.key: p.value for p in model.metadata_props}


def small_network(dtype=np.float32, classes=None, seed=0):
    arch = dn.Architecture(input_size=20, hidden=(16, 12), output_size=3, dropout=0.2, input_dropout=0.1)
    return dn.build_mlp(arch, np.random.default_rng(seed), dtype=dtype, classes=classes)


@pytest.fixture(scope="module", params=SHIPPED)
def shipped(request, mnist, tmp_path_factory):
    """A shipped model exported with its hidden outputs, and onnxruntime's outputs on the test set."""
    net, meta = dn.load_model(REPO / "models" / f"{request.param}.npz")
    path = export_onnx(tmp_path_factory.mktemp("onnx") / "model.onnx", net, hidden_outputs=True,
                       metadata=meta)
    outputs = run(path, to_float(mnist.x_test, np.float32))   # all 10,000 images
    return net, meta, path, outputs


def test_shipped_models_agree_with_digitnet_on_every_test_image(shipped, mnist):
    net, meta, _, outputs = shipped
    probs = net.predict_proba(mnist.x_test)                    # (10000, 10)
    assert outputs["probabilities"].shape == probs.shape == (10_000, 10)
    assert (outputs["probabilities"].argmax(axis=1) == probs.argmax(axis=1)).all()
    assert np.abs(outputs["probabilities"] - probs).max() <= 1e-5
    logits, _ = net.activations(mnist.x_test)
    np.testing.assert_allclose(outputs["logits"], logits, rtol=1e-5, atol=1e-4)
    accuracy = (outputs["probabilities"].argmax(axis=1) == mnist.y_test).mean()
    assert accuracy == (probs.argmax(axis=1) == mnist.y_test).mean() == meta["metrics"]["test_accuracy"]


def test_hidden_outputs_are_the_networks_activations(shipped, mnist):
    net, _, _, outputs = shipped
    _, hidden = net.activations(mnist.x_test[:1000])
    assert [name for name in outputs if name.startswith("hidden")] == ["hidden1", "hidden2"]
    for k, expected in enumerate(hidden, start=1):
        np.testing.assert_allclose(outputs[f"hidden{k}"][:1000], expected, rtol=1e-5, atol=1e-4)


def test_shipped_export_passes_the_full_check_with_pinned_versions(shipped):
    _, _, path, _ = shipped
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == 8
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    assert (model.producer_name, model.producer_version) == ("digitnet", dn.__version__)
    # Dropout is gone: inference is Gemm and Relu, then Softmax, weights as initializers.
    assert [node.op_type for node in model.graph.node] == ["Gemm", "Relu", "Gemm", "Relu", "Gemm", "Softmax"]
    assert sorted(init.name for init in model.graph.initializer) == [
        f"dense{i}.{k}" for i in range(3) for k in "Wb"]


def test_shipped_metadata_round_trips(shipped):
    net, meta, path, _ = shipped
    found = props(onnx.load(str(path)))
    assert json.loads(found["classes"]) == net.classes == list(range(10))
    assert found["n_features"] == "784" and found["dtype"] == "float32"
    assert found["dataset"] == "mnist" and found["preset"] == meta["preset"]
    assert float(found["test_accuracy"]) == meta["metrics"]["test_accuracy"]
    assert found["source_sha256"] == meta["content_sha256"]
    assert json.loads(found["layers"]) == net.spec()
    preprocessing = json.loads(found["preprocessing"])
    assert "/ 255" in preprocessing["scale"] and "28x28" in preprocessing["images"]


def test_the_batch_dimension_is_dynamic(shipped, mnist):
    net, _, path, _ = shipped
    shape = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert [(d.dim_param, d.dim_value) for d in shape] == [("batch", 0), ("", 784)]
    sess = session(path)
    for n in (1, 3):
        x = to_float(mnist.x_test[:n], np.float32)
        probs = sess.run(["probabilities"], {"pixels": x})[0]
        assert probs.shape == (n, 10)
        np.testing.assert_allclose(probs, net.predict_proba(x), atol=1e-5)


@pytest.mark.parametrize("make_layers", [
    lambda rng: [dn.ReLU(), dn.Dense(20, 8, rng), dn.ReLU()],                    # ends in a ReLU
    lambda rng: [dn.Dense(20, 8, rng), dn.ReLU(), dn.ReLU(), dn.Dense(8, 4, rng), dn.Dropout(0.5)],
], ids=["relu-first-and-last", "two-relus-dropout-last"])
def test_any_stack_of_the_three_layers_runs_as_in_digitnet(make_layers):
    net = dn.Network(make_layers(np.random.default_rng(4)))
    x = np.random.default_rng(5).normal(size=(6, 20)).astype(np.float32)
    out = run(to_onnx(net, hidden_outputs=True), x)
    logits, hidden = net.activations(x)
    assert list(out) == ["logits", "probabilities"] + [f"hidden{k}" for k in range(1, len(hidden) + 1)]
    np.testing.assert_allclose(out["logits"], logits, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out["probabilities"], net.predict_proba(x), atol=1e-6)
    for k, expected in enumerate(hidden, start=1):
        np.testing.assert_allclose(out[f"hidden{k}"], expected, rtol=1e-6, atol=1e-6)


def test_a_network_with_string_classes():
    names = ["circle", "square", "triangle"]
    net = small_network(classes=names)
    model = to_onnx(net)
    assert [o.name for o in model.graph.output] == ["logits", "probabilities"]
    found = props(model)
    assert json.loads(found["classes"]) == names
    assert "dataset" not in found and "images" not in json.loads(found["preprocessing"])
    x = np.random.default_rng(1).normal(size=(7, 20)).astype(np.float32)
    out = run(model, x)
    np.testing.assert_allclose(out["probabilities"], net.predict_proba(x), atol=1e-6)
    assert (np.asarray(names)[out["probabilities"].argmax(axis=1)] == net.predict(x)).all()


def test_a_float64_network_exports_as_float32_or_on_request_as_float64():
    net = small_network(np.float64)
    x = np.random.default_rng(2).normal(size=(5, 20))           # float64
    as32 = to_onnx(net)
    assert as32.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert props(as32)["dtype"] == "float32 (weights converted from the network's float64)"
    out = run(as32, x.astype(np.float32))
    np.testing.assert_allclose(out["probabilities"], net.predict_proba(x), atol=1e-5)

    as64 = to_onnx(net, hidden_outputs=True, dtype=np.float64)
    assert as64.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert props(as64)["dtype"] == "float64"
    out = run(as64, x)
    np.testing.assert_allclose(out["probabilities"], net.predict_proba(x), rtol=0, atol=1e-12)
    for got, expected in zip((out["hidden1"], out["hidden2"]), net.activations(x)[1]):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_weights_beyond_float32_are_refused_not_turned_into_infinity():
    net = small_network(np.float64)
    net.layers[1].params["W"][0, 0] = 1e300
    with pytest.raises(ExportError, match=r"layer 1 \(Dense\(20, 16\)\).*range of float32"):
        to_onnx(net, dtype=np.float32)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_weights_of_a_diverged_network_are_refused_and_nothing_is_written(tmp_path, bad):
    net = small_network(np.float32)
    net.layers[-1].params["b"][2] = bad
    with pytest.raises(ExportError, match="NaN or infinite"):
        export_onnx(tmp_path / "diverged.onnx", net)
    assert list(tmp_path.iterdir()) == []


class Scale:
    """A layer digitnet could run but the exporter does not know."""

    PARAMS = ()

    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, x, training=False):
        return 2 * x

    def backward(self, grad_y):
        return 2 * grad_y

    def spec(self):
        return {"type": "Scale"}


class DoubledDense(dn.Dense):
    """A Dense subclass computing something else: exporting it as Gemm would be wrong."""

    def forward(self, x, training=False):
        return 2 * super().forward(x, training)


@pytest.mark.parametrize("make, name", [(lambda rng: Scale(), "Scale"),
                                        (lambda rng: DoubledDense(16, 16, rng), "DoubledDense")])
def test_a_layer_without_translation_is_a_clear_error_and_writes_nothing(tmp_path, make, name):
    net = small_network()
    net.layers.insert(3, make(np.random.default_rng(0)))        # after Dropout, Dense(20, 16), ReLU
    out = tmp_path / "model.onnx"
    out.write_bytes(b"the previous file")
    with pytest.raises(ExportError, match=f"layer 3 \\({name}\\) has no ONNX translation") as err:
        export_onnx(out, net)
    assert str(err.value) == (f"layer 3 ({name}) has no ONNX translation: "
                              "the exporter knows Dense, ReLU and Dropout")
    assert out.read_bytes() == b"the previous file"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]   # no temporary file left


def test_weights_over_the_protobuf_limit_are_refused(tmp_path, monkeypatch):
    from digitnet import onnx_export

    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", 1000)
    with pytest.raises(ExportError, match="at most 2 GiB"):
        export_onnx(tmp_path / "model.onnx", small_network())
    assert not list(tmp_path.iterdir())


def test_without_onnx_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)             # import onnx now raises ImportError
    with pytest.raises(ExportError, match=r"pip install 'digitnet\[onnx\]'"):
        export_onnx(tmp_path / "model.onnx", small_network())
    assert not list(tmp_path.iterdir())


# -- the command line --------------------------------------------------------


def readme_block(heading):
    """The first ```python block after ``heading`` in README.md."""
    text = (REPO / "README.md").read_text()
    return text.split(heading, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


def test_cli_export_then_the_readme_example_reads_the_test_set(tmp_path, mnist, capsys, monkeypatch):
    out = tmp_path / "mnist.onnx"
    assert cli.main(["export", str(REPO / "models" / "mnist-best-augmented.npz"), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {out} (") and "opset 17, IR version 8" in printed
    outputs = run(out, to_float(mnist.x_test, np.float32), ["probabilities"])
    assert (outputs["probabilities"].argmax(axis=1) == mnist.y_test).mean() == 0.9929
    monkeypatch.chdir(tmp_path)
    exec(readme_block("## Export to ONNX"), {})                 # reads mnist.onnx from here
    assert capsys.readouterr().out == "test accuracy 99.29%\n"   # as the README says


@pytest.mark.parametrize("flags, elem", [([], onnx.TensorProto.FLOAT),
                                         (["--dtype", "float64"], onnx.TensorProto.DOUBLE)])
def test_cli_export_with_hidden_outputs(tmp_path, capsys, flags, elem):
    path = tmp_path / "small.npz"
    net = small_network(np.float64, classes=["a", "b", "c"])
    dn.save_model(path, net)
    out = tmp_path / "small.onnx"
    assert cli.main(["export", str(path), "-o", str(out), "--hidden-outputs", *flags]) == 0
    assert "outputs logits, probabilities, hidden1, hidden2" in capsys.readouterr().out
    model = onnx.load(str(out))
    assert [o.name for o in model.graph.output] == ["logits", "probabilities", "hidden1", "hidden2"]
    assert model.graph.input[0].type.tensor_type.elem_type == elem
    assert json.loads(props(model)["classes"]) == ["a", "b", "c"]
    x = np.random.default_rng(3).normal(size=(4, 20)).astype(onnx.helper.tensor_dtype_to_np_dtype(elem))
    np.testing.assert_allclose(run(out, x)["probabilities"], net.predict_proba(x), atol=1e-6)


@pytest.mark.parametrize("model, out, words", [
    ("missing.npz", "m.onnx", ["missing.npz", "model file not found"]),
    ("model.npz", "model.npz", ["would overwrite the model file"]),
])
def test_cli_export_errors_are_one_line(tmp_path, capsys, model, out, words):
    dn.save_model(tmp_path / "model.npz", small_network())
    before = sorted(p.name for p in tmp_path.iterdir())
    assert cli.main(["export", str(tmp_path / model), "-o", str(tmp_path / out)]) != 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("digitnet: error: ")
    assert all(word in err for word in words), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# -- the file as a user of it sees it: names, shapes, documentation, metadata ------------------


def dims(value_info):
    return [(d.dim_param, d.dim_value) for d in value_info.type.tensor_type.shape.dim]


@pytest.mark.parametrize("hidden_outputs", [False, True])
def test_the_exported_file_names_and_documents_every_part(tmp_path, hidden_outputs):
    net = small_network()
    path = export_onnx(tmp_path / "m.onnx", net, **({"hidden_outputs": True} if hidden_outputs else {}))
    model = onnx.load(str(path))
    assert (model.ir_version, model.producer_name, model.producer_version) == (8, "digitnet", dn.__version__)
    assert model.doc_string == "A digitnet multilayer perceptron: Gemm and Relu layers, then Softmax."
    graph = model.graph
    assert (graph.name, graph.doc_string) == ("digitnet", "digitnet network 20-16-12-3")
    assert [(i.name, i.type.tensor_type.elem_type, dims(i), i.doc_string) for i in graph.input] == [
        ("pixels", onnx.TensorProto.FLOAT, [("batch", 0), ("", 20)],
         "floats, one row per sample; uint8 pixels must be divided by 255 first")]
    expected = [("logits", [("batch", 0), ("", 3)], "the last layer's output, before the softmax"),
                ("probabilities", [("batch", 0), ("", 3)],
                 "softmax of the logits; columns in the order of `classes`")]
    if hidden_outputs:
        expected += [("hidden1", [("batch", 0), ("", 16)], "output of hidden ReLU 1"),
                     ("hidden2", [("batch", 0), ("", 12)], "output of hidden ReLU 2")]
    assert [(o.name, dims(o), o.doc_string) for o in graph.output] == expected
    assert all(o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for o in graph.output)
    assert [(n.name, n.op_type, list(n.input), list(n.output)) for n in graph.node] == [
        ("dense0", "Gemm", ["pixels", "dense0.W", "dense0.b"], ["dense0"]),
        ("relu1", "Relu", ["dense0"], ["hidden1"]),
        ("dense1", "Gemm", ["hidden1", "dense1.W", "dense1.b"], ["dense1"]),
        ("relu2", "Relu", ["dense1"], ["hidden2"]),
        ("dense2", "Gemm", ["hidden2", "dense2.W", "dense2.b"], ["logits"]),
        ("softmax", "Softmax", ["logits"], ["probabilities"])]
    weights = {init.name: onnx.numpy_helper.to_array(init) for init in graph.initializer}
    dense = [layer for layer in net.layers if isinstance(layer, dn.Dense)]
    assert list(weights) == [f"dense{i}.{k}" for i in range(3) for k in "Wb"]
    for i, layer in enumerate(dense):
        np.testing.assert_array_equal(weights[f"dense{i}.W"], layer.params["W"])
        np.testing.assert_array_equal(weights[f"dense{i}.b"], layer.params["b"])
    assert props(model) == {"classes": "[0, 1, 2]", "n_features": "20", "dtype": "float32",
                            "preprocessing": json.dumps(PREPROCESSING), "layers": json.dumps(net.spec())}


@pytest.mark.parametrize("make_layers, last_node", [
    (lambda rng: [dn.Dense(20, 3, rng)], ("dense0", "Gemm", ["pixels", "dense0.W", "dense0.b"], ["logits"])),
    (lambda rng: [dn.Dense(20, 3, rng), dn.ReLU()], ("logits", "Identity", ["hidden1"], ["logits"])),
    (lambda rng: [dn.Dense(20, 6, rng), dn.ReLU(), dn.Dense(6, 3, rng), dn.ReLU(), dn.ReLU()],
     ("logits", "Identity", ["hidden3"], ["logits"])),
], ids=["no-hidden-layer", "one-relu-last", "three-relus-last"])
def test_networks_with_no_hidden_layer_or_ending_in_relus_export_as_they_compute(make_layers, last_node):
    net = dn.Network(make_layers(np.random.default_rng(6)))
    model = to_onnx(net, hidden_outputs=True)
    nodes = [(n.name, n.op_type, list(n.input), list(n.output)) for n in model.graph.node]
    assert nodes[-2:] == [last_node, ("softmax", "Softmax", ["logits"], ["probabilities"])]
    x = np.random.default_rng(7).normal(size=(5, 20)).astype(np.float32)
    out = run(model, x)
    logits, hidden = net.activations(x)
    assert list(out) == ["logits", "probabilities"] + [f"hidden{k}" for k in range(1, len(hidden) + 1)]
    np.testing.assert_allclose(out["logits"], logits, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out["probabilities"], net.predict_proba(x), atol=1e-6)


def test_metadata_of_a_model_file_recorded_in_full_and_unicode_kept():
    arch = dn.Architecture(input_size=784, hidden=(4,), output_size=3)
    net = dn.build_mlp(arch, np.random.default_rng(0), classes=["café", "naïve", "日本"])
    names = [f"px{i}é" for i in range(784)]
    meta = {"dataset": "fashion-mnist", "preset": "quick", "metrics": {"test_accuracy": 0.875},
            "content_sha256": "ab" * 32, "estimator": {"feature_names_in": names}}
    assert props(to_onnx(net, metadata=meta)) == {
        "classes": '["café", "naïve", "日本"]', "n_features": "784", "dtype": "float32",
        "preprocessing": json.dumps({**PREPROCESSING, "images": IMAGES["fashion-mnist"]}),
        "layers": json.dumps(net.spec()), "feature_names": json.dumps(names, ensure_ascii=False),
        "dataset": "fashion-mnist", "preset": "quick", "test_accuracy": "0.875", "source_sha256": "ab" * 32}


@pytest.mark.parametrize("n_features, meta", [
    (20, {"dataset": "mnist"}),                                  # images described only for 784 pixels
    (784, {"dataset": "digits.csv"}),                            # a dataset whose pictures are unknown
    (784, {"dataset": 7, "preset": True, "metrics": {"test_accuracy": None}}),   # not names: left out
    (784, {"metrics": [0.9], "estimator": {"feature_names_in": ["a", "b"]}}),    # two names for 784 columns
    (784, {"estimator": "DigitnetClassifier"}),
])
def test_metadata_that_does_not_fit_the_network_is_left_out(n_features, meta):
    net = dn.build_mlp(dn.Architecture(input_size=n_features, hidden=(4,), output_size=3),
                       np.random.default_rng(0))
    found = props(to_onnx(net, metadata=meta))
    expected = {"classes", "n_features", "dtype", "preprocessing", "layers"}
    if isinstance(meta.get("dataset"), str):
        expected.add("dataset")
        assert found["dataset"] == meta["dataset"]
    assert set(found) == expected and json.loads(found["preprocessing"]) == PREPROCESSING


def test_a_float32_network_exported_as_float64_says_so():
    net = small_network(np.float32)
    model = to_onnx(net, dtype=np.float64)
    assert props(model)["dtype"] == "float64 (weights converted from the network's float32)"
    assert all(init.data_type == onnx.TensorProto.DOUBLE for init in model.graph.initializer)
    assert props(to_onnx(small_network(np.float64), dtype="float64"))["dtype"] == "float64"


def test_weights_beyond_float32_give_the_error_and_no_overflow_warning():
    net = small_network(np.float64)
    net.layers[1].params["W"][0, 0] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ExportError) as err:
            to_onnx(net)
    assert str(err.value) == ("layer 1 (Dense(20, 16)) has weights beyond the range of float32; "
                              "export it as float64")


@pytest.mark.parametrize("model, dtype, message", [
    ("net", "int32", "ONNX export writes float32 or float64, not int32"),
    ("net", "nope", "ONNX export writes float32 or float64, not 'nope'"),
    ([1, 2], np.float32, "cannot export a list: pass a digitnet Network or a fitted DigitnetClassifier"),
    ("nan", np.float32, "the network's weights hold NaN or infinite values (did training diverge?); "
                        "nothing was exported"),
])
def test_refusals_are_these_exact_messages(model, dtype, message):
    net = small_network()
    if model == "nan":
        net.layers[1].params["b"][0] = np.nan
    with pytest.raises(ExportError) as err:
        to_onnx(net if isinstance(model, str) else model, dtype=dtype)
    assert str(err.value) == message


def test_without_onnx_the_whole_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ExportError) as err:
        to_onnx(small_network())
    assert str(err.value) == "ONNX export needs the onnx package: pip install 'digitnet[onnx]'"


def test_the_size_limit_is_inclusive_and_counts_the_exported_type(monkeypatch):
    from digitnet import onnx_export

    net = small_network()
    size = sum(p.size for p in net.parameters()) * 4                # float32 bytes
    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", size)
    to_onnx(net)                                                    # exactly at the limit: fine
    with pytest.raises(ExportError, match="at most 2 GiB"):
        to_onnx(net, dtype=np.float64)                              # 8 bytes a weight: over it


def test_weights_over_the_limit_are_refused_with_their_size_in_gib(monkeypatch):
    from digitnet import onnx_export

    monkeypatch.setattr(onnx_export, "MAX_WEIGHT_BYTES", 1000)
    net = dn.Network([dn.Dense(8192, 2, np.random.default_rng(0))])
    net.layers[0].params["W"] = np.broadcast_to(np.float32(0.0), (8192, 8192))   # 2**26 weights, no memory
    with pytest.raises(ExportError) as err:
        to_onnx(net, dtype=np.float64)                              # 2**29 bytes
    assert str(err.value) == ("the weights take 0.5 GiB; an ONNX file holds at most 2 GiB "
                              "(external data files are not supported)")


def test_export_where_it_cannot_write_names_the_path_and_the_reason(tmp_path):
    path = tmp_path / "m.onnx"
    path.mkdir()                                                # a folder where the file would go
    with pytest.raises(ExportError) as err:
        export_onnx(path, small_network())
    assert str(err.value) == f"{path}: cannot write (Is a directory)"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"] and not list(path.iterdir())


def test_export_onnx_writes_the_metadata_it_is_given(tmp_path):
    """The file's metadata_props carry what ``metadata`` says (a writer that dropped it passed)."""
    net = dn.build_mlp(dn.Architecture(input_size=784, hidden=(4,), output_size=10), np.random.default_rng(0))
    path = export_onnx(tmp_path / "m.onnx", net, metadata={"dataset": "mnist", "preset": "quick",
                                                           "metrics": {"test_accuracy": 0.5}})
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert (props["dataset"], props["preset"], props["test_accuracy"]) == ("mnist", "quick", "0.5")
    assert [(o.domain, o.version) for o in onnx.load(str(path)).opset_import] == [("", 17)]
