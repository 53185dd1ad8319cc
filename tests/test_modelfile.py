"""Model files: round trip, atomic writes, and every kind of bad file."""

import json
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


def test_missing(tmp_path):
    expect_error(tmp_path / "absent.npz", "not found")


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04broken zip", bytes(range(256)) * 10])
def test_not_an_npz(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    expect_error(path)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated(saved, fraction):
    data = saved.read_bytes()
    saved.write_bytes(data[:int(len(data) * fraction)])
    expect_error(saved)


def test_foreign_npz(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, weights=np.zeros(3))
    expect_error(path, "not a digitnet-model file")


def test_pickled_object_array_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, metadata=np.array([{"format": "digitnet-model"}], dtype=object))
    expect_error(path)


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


def test_tampered_weights_fail_the_hash(saved):
    rewrite(saved, lambda a, m: a["layer1.W"].__setitem__((0, 0), 42.0), rehash=False)
    expect_error(saved, "SHA-256")


def test_nan_weights(saved):
    rewrite(saved, lambda a, m: a["layer0.b"].__setitem__(0, np.nan))
    expect_error(saved, "NaN")


def test_shape_mismatch(saved):
    rewrite(saved, lambda a, m: a.__setitem__("layer1.W", np.zeros((32, 17), np.float32)))
    expect_error(saved, "layer1.W")


def test_missing_array(saved):
    rewrite(saved, lambda a, m: a.pop("layer2.b"))
    expect_error(saved, "layer2.b")


def test_absurd_architecture_allocates_nothing(saved):
    rewrite(saved, lambda a, m: m["layers"][0].__setitem__("fan_out", 10**9))
    expect_error(saved, "layer0.W is (784, 32), the layer needs (784, 1000000000)")


def test_unknown_layer_type(saved):
    rewrite(saved, lambda a, m: m["layers"][1].__setitem__("type", "Softplus"))
    expect_error(saved, "unknown layer type 'Softplus'")


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


def test_newer_format_version(saved):
    rewrite(saved, lambda a, m: m.__setitem__("format_version", 99))
    expect_error(saved, "version")


def test_metadata_not_json(saved):
    with np.load(saved) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["metadata"] = np.frombuffer(b"\xff\xfe{not json", dtype=np.uint8)
    np.savez(saved, **arrays)
    expect_error(saved, "JSON")


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
    expect_error(saved)


def test_member_header_that_does_not_parse(saved):
    with zipfile.ZipFile(saved) as z:
        members = {name: z.read(name) for name in z.namelist()}
    members["layer0.W.npy"] = members["layer0.W.npy"].replace(b"(784, 32)", b"(784, 32}")
    with zipfile.ZipFile(saved, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    expect_error(saved)
