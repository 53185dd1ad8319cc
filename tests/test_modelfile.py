"""Model files: round trip, atomic writes, and every kind of bad file."""

import json
import re
import zipfile

import numpy as np
import pytest

from digitnet.errors import ModelFileError
from digitnet.model import Architecture, build_mlp
from digitnet.modelfile import load_model, save_model
from digitnet.npzfile import content_sha256


@pytest.fixture
def model():
    return build_mlp(Architecture(hidden=(32, 16)), np.random.default_rng(0))


@pytest.fixture
def saved(tmp_path, model):
    return save_model(tmp_path / "model.npz", model, {"dataset": "mnist", "metrics": {"test_accuracy": 0.5}})


def test_round_trip(saved, model, rng):
    loaded, meta = load_model(saved)
    x = rng.random((5, 784), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert meta["layers"] == [{"type": "Dense", "fan_in": 784, "fan_out": 32}, {"type": "ReLU"},
                              {"type": "Dense", "fan_in": 32, "fan_out": 16}, {"type": "ReLU"},
                              {"type": "Dense", "fan_in": 16, "fan_out": 10}]
    assert meta["classes"] == list(range(10)) and loaded.classes == list(range(10))
    assert meta["dataset"] == "mnist" and meta["metrics"]["test_accuracy"] == 0.5
    assert meta["digitnet_version"] and meta["preprocessing"]["scale"].startswith("uint8 pixels / 255")
    assert loaded.dtype == np.float32


def test_float64_round_trip(tmp_path, rng):
    model = build_mlp(Architecture(hidden=(8,)), rng, np.float64)
    loaded, _ = load_model(save_model(tmp_path / "m.npz", model))
    assert loaded.dtype == np.float64
    assert all(np.array_equal(a, b) for a, b in zip(loaded.parameters(), model.parameters()))


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path, model):
    path = save_model(tmp_path / "model.npz", model)
    save_model(path, model)  # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_failed_write_keeps_the_old_file(tmp_path, model):
    path = save_model(tmp_path / "model.npz", model)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        save_model(path, model, {"not json": object()})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def expect_error(path, *words):
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04broken zip", bytes(range(256)) * 10])
def test_not_an_npz(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    assert message(path) == f"{path}: not a readable .npz file (File is not a zip file)"


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated(saved, fraction):
    data = saved.read_bytes()
    saved.write_bytes(data[:int(len(data) * fraction)])
    expect_error(saved)


def test_pickled_object_array_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, metadata=np.array([{"format": "digitnet-model"}], dtype=object))
    assert message(path) == f"{path}: metadata.npy holds Python objects"


def rewrite(path, mutate, rehash=True):
    """Load the raw arrays, let ``mutate`` change them, save them back.

    With ``rehash`` the content hash is updated, as a buggy writer would; the
    loader must then catch the problem itself. Without it, as a tamperer would.
    """
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(arrays.pop("metadata").tobytes())
    mutate(arrays, meta)
    if rehash:
        meta["content_sha256"] = content_sha256(arrays)
    arrays["metadata"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def test_a_new_layer_type_saves_and_loads_without_touching_the_loader(tmp_path, rng, monkeypatch):
    """Register a layer (here a parameterised scaling) and a model file carries it."""
    from digitnet.layers import LAYER_TYPES, Dense, register_layer
    from digitnet.model import Network

    class Scale:
        PARAMS = ("s",)

        def __init__(self, n):
            self.params = {"s": np.full(n, 2.0, np.float32)}
            self.grads = {"s": np.zeros(n, np.float32)}

        def forward(self, x, training=False):
            return x * self.params["s"]

        def backward(self, grad_y):
            return grad_y * self.params["s"]

        def spec(self):
            return {"type": "Scale", "n": int(self.params["s"].size)}

        @classmethod
        def from_spec(cls, spec, params):
            layer = cls(int(spec["n"]))
            layer.params["s"] = params["s"].copy()
            return layer

    monkeypatch.setitem(LAYER_TYPES, "Scale", None)      # removed again after the test
    with pytest.raises(TypeError, match="no PARAMS"):
        register_layer(type("Bare", (), {"forward": None}))
    assert register_layer(Scale) is Scale and LAYER_TYPES["Scale"] is Scale
    net = Network([Dense(4, 3, rng), Scale(3)], classes=["a", "b", "c"])
    loaded, meta = load_model(save_model(tmp_path / "m.npz", net))
    assert [type(layer).__name__ for layer in loaded.layers] == ["Dense", "Scale"]
    assert meta["layers"][1] == {"type": "Scale", "n": 3} and loaded.classes == ["a", "b", "c"]
    x = rng.random((2, 4), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict_proba(x), net.predict_proba(x))


def test_metadata_not_json(saved):
    with np.load(saved) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["metadata"] = np.frombuffer(b"\xff\xfe{not json", dtype=np.uint8)
    np.savez(saved, **arrays)
    assert message(saved) == (f"{saved}: metadata is not valid JSON ('utf-8' codec can't decode byte 0xff "
                              "in position 0: invalid start byte)")


def test_member_header_lying_about_its_shape(saved, tmp_path):
    # Rewrite one member's .npy header to claim a huge shape with the same data.
    with zipfile.ZipFile(saved) as z:
        members = {name: z.read(name) for name in z.namelist()}
    raw = members["layer0.W.npy"]
    assert b"(784, 32)" in raw
    members["layer0.W.npy"] = raw.replace(b"(784, 32)", b"(9999,99)")  # same header length
    with zipfile.ZipFile(saved, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    assert message(saved) == f"{saved}: layer0.W.npy is truncated or malformed (header shape (9999, 99))"


def test_member_header_that_does_not_parse(saved):
    with zipfile.ZipFile(saved) as z:
        members = {name: z.read(name) for name in z.namelist()}
    members["layer0.W.npy"] = members["layer0.W.npy"].replace(b"(784, 32)", b"(784, 32}")
    with zipfile.ZipFile(saved, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    assert message(saved) == f"{saved}: layer0.W.npy has no valid array header (ValueError)"


def message(path):
    """The one-line ModelFileError that load_model raises for ``path``."""
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    return str(err.value)


def test_the_file_records_history_dtype_version_and_the_image_size(tmp_path, rng):
    from digitnet import __version__
    from digitnet.layers import Dense
    from digitnet.model import Network
    from digitnet.modelfile import PREPROCESSING

    net = Network([Dense(600, 3, rng)], classes=[0, 1, 2])
    net.history = [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}]
    loaded, meta = load_model(save_model(tmp_path / "m.npz", net, {"image_shape": [20, 30]}))
    assert loaded.history == net.history and meta["history"] == net.history
    assert meta["preprocessing"] == {
        "input": "(n_samples, n_features); images flattened row by row (20x30 -> 600)",
        "scale": "uint8 pixels / 255 to floats in [0, 1] (0 = background, 1 = ink); floats as given"}
    assert (meta["format"], meta["format_version"]) == ("digitnet-model", 2)
    assert meta["digitnet_version"] == __version__
    assert meta["dtype"] == "float32" and meta["image_shape"] == [20, 30]
    _, plain = load_model(save_model(tmp_path / "plain.npz", net))
    assert plain["preprocessing"] == PREPROCESSING and "image_shape" not in plain
    assert PREPROCESSING["input"] == "(n_samples, n_features); images flattened row by row (28x28 -> 784)"


@pytest.mark.parametrize("classes", [np.array([3, 5, 7]), np.array(["cat", "dog", "eel"]), [3, 5, 7]])
def test_numpy_labels_are_stored_as_plain_json(tmp_path, rng, classes):
    from digitnet.layers import Dense
    from digitnet.model import Network

    net = Network([Dense(2, 3, rng)], classes=list(classes))
    loaded, meta = load_model(save_model(tmp_path / "m.npz", net))
    expected = np.asarray(classes).tolist()
    assert meta["classes"] == expected and loaded.classes == expected
    assert [type(c) for c in loaded.classes] == [type(c) for c in expected]


@pytest.mark.parametrize("history", ["oops", None, {"epoch": 1}])
def test_a_history_that_is_not_a_list_loads_as_empty(saved, history):
    rewrite(saved, lambda a, m: m.__setitem__("history", history))
    assert load_model(saved)[0].history == []


def test_a_model_file_that_cannot_be_written_is_one_line(tmp_path, model, monkeypatch):
    with pytest.raises(ModelFileError) as err:
        save_model(tmp_path, model)
    assert str(err.value) == f"{tmp_path}: cannot write the model file (Is a directory)"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelFileError) as err:
        save_model("", model)                   # the current folder: the OS names the reason
    assert re.fullmatch(r"\(empty path\): cannot write the model file \([A-Z][a-z ]+\)", str(err.value))
    assert list(tmp_path.iterdir()) == []


def version_1_file(path, architecture):
    """A format-1 model file (digitnet 0.1): an MLP described by its sizes, float32 and no dtype key."""
    from digitnet.npzfile import save_npz

    sizes = [architecture["input_size"], *architecture["hidden"], architecture["output_size"]]
    arrays = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        arrays[f"layer{i}.W"] = np.full((fan_in, fan_out), 0.5, np.float32)
        arrays[f"layer{i}.b"] = np.zeros(fan_out, np.float32)
    meta = {"format": "digitnet-model", "format_version": 1, "architecture": architecture}
    return save_npz(path, arrays, meta)


RELU = {"type": "ReLU"}
DENSE = [{"type": "Dense", "fan_in": 4, "fan_out": 3}, {"type": "Dense", "fan_in": 3, "fan_out": 2},
         {"type": "Dense", "fan_in": 2, "fan_out": 2}]


def dropout(p):
    return {"type": "Dropout", "p": p}


@pytest.mark.parametrize("dropouts, expected", [
    ({}, [DENSE[0], RELU, DENSE[1], RELU, DENSE[2]]),
    ({"input_dropout": 0, "dropout": 0.0}, [DENSE[0], RELU, DENSE[1], RELU, DENSE[2]]),
    ({"input_dropout": 0.2, "dropout": 0.5},
     [dropout(0.2), DENSE[0], RELU, dropout(0.5), DENSE[1], RELU, dropout(0.5), DENSE[2]]),
    ({"dropout": 0.5}, [DENSE[0], RELU, dropout(0.5), DENSE[1], RELU, dropout(0.5), DENSE[2]]),
    ({"input_dropout": 0.2}, [dropout(0.2), DENSE[0], RELU, DENSE[1], RELU, DENSE[2]]),
])
def test_format_1_architectures_load_into_the_same_layers(tmp_path, dropouts, expected):
    architecture = {"input_size": 4, "hidden": [3, 2], "output_size": 2, **dropouts}
    model, meta = load_model(version_1_file(tmp_path / "v1.npz", architecture))
    assert model.spec() == expected and model.dtype == np.float32 and model.classes == [0, 1]
    assert meta["architecture"] == architecture
    np.testing.assert_allclose(model.predict_proba(np.ones((1, 4), np.float32)), [[0.5, 0.5]])


@pytest.mark.parametrize("mutate, tail", [
    (lambda a, m: m.__setitem__("dtype", "float16"), "unsupported dtype float16"),
    (lambda a, m: m.__setitem__("dtype", "int64"), "unsupported dtype int64"),
    (lambda a, m: m.__setitem__("dtype", "nonsense"),
     "metadata has no valid layer list (data type 'nonsense' not understood)"),
    (lambda a, m: m.__setitem__("layers", 7),
     "metadata has no valid layer list ('int' object is not iterable)"),
    (lambda a, m: m.pop("layers"), "metadata has no valid layer list ('architecture')"),
    (lambda a, m: m["layers"][1].pop("type"), "metadata has no valid layer list (unknown layer type None)"),
    (lambda a, m: m["layers"][1].__setitem__("type", "Softplus"),
     "metadata has no valid layer list (unknown layer type 'Softplus')"),
    (lambda a, m: a.__setitem__("layer0.W", a["layer0.W"].astype(np.float64)),
     "arrays do not match the layers (layer0.W is float64, not float32)"),
    (lambda a, m: a.__setitem__("extra", np.zeros(2, np.float32)),
     "arrays do not match the layers (arrays ['extra'] belong to no layer)"),
    (lambda a, m: a.pop("layer2.b"), "arrays do not match the layers (layer2.b is missing)"),
    (lambda a, m: a.__setitem__("layer1.W", np.zeros((32, 17), np.float32)),
     "arrays do not match the layers (layer1.W is (32, 17), the layer needs (32, 16))"),
    (lambda a, m: m["layers"][0].__setitem__("fan_out", 10**9),
     "arrays do not match the layers (layer0.W is (784, 32), the layer needs (784, 1000000000))"),
    (lambda a, m: m["layers"].insert(1, {"type": "Dropout", "p": 1.5}),
     "arrays do not match the layers (dropout probability must be in [0, 1), got 1.5)"),
    (lambda a, m: m["layers"].insert(1, {"type": "Dropout"}), "arrays do not match the layers ('p')"),
    (lambda a, m: m.__setitem__("classes", "abc"), "'classes' must be a list of integers or strings"),
    (lambda a, m: m.__setitem__("classes", [1.5, 2]), "'classes' must be a list of integers or strings"),
    (lambda a, m: m.__setitem__("format_version", 99),
     "digitnet-model format version 99 is not supported (expected 2)"),
    (lambda a, m: a["layer0.b"].__setitem__(0, np.nan), "layer0.b holds NaN or infinite values"),
])
def test_a_model_file_that_does_not_describe_its_arrays_is_refused_in_one_line(saved, mutate, tail):
    rewrite(saved, mutate)
    assert message(saved) == f"{saved}: {tail}"


def test_missing_foreign_and_tampered_files_are_named_exactly(tmp_path, saved):
    assert message(tmp_path / "absent.npz") == f"{tmp_path / 'absent.npz'}: model file not found"
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    assert message(foreign) == f"{foreign}: not a digitnet-model file (no metadata)"
    rewrite(saved, lambda a, m: a["layer1.W"].__setitem__((0, 0), 42.0), rehash=False)
    assert message(saved) == f"{saved}: content does not match its recorded SHA-256 (modified or corrupt)"
