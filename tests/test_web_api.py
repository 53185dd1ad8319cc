"""The web API: good input gives the network's view, bad input a clear 4xx, and it keeps serving."""

import base64
import math

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web extras are not installed: pip install -e '.[web]'")
from fastapi.testclient import TestClient

from digitnet.modelfile import load_model
from digitnet.preprocess import to_mnist
from digitnet.web.app import create_app
from digitnet.web.limits import MAX_BODY_BYTES

from drawing import draw_digit
from web_helpers import SHIPPED, bomb_png, data_url, mnist_digit, png_bytes


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(SHIPPED)) as c:
        yield c


@pytest.fixture(scope="module")
def model():
    return load_model(SHIPPED)[0]


def _predict_json(client, **body):
    return client.post("/api/predict", json=body)


def test_page_and_its_files_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<canvas id="pad"' in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    # Works offline: nothing is fetched from another host.
    assert "http://" not in page.text.replace("http://www.w3.org", "") and "https://" not in page.text


def test_model_info(client, model):
    info = client.get("/api/model").json()
    assert info["sizes"] == list(model.sizes)
    assert info["classes"] == [str(i) for i in range(10)] and info["dataset"] == "mnist"


def test_pixels_as_is_give_the_models_own_probabilities(client, model, mnist):
    image = mnist_digit(mnist, 0)
    body = _predict_json(client, pixels=image.tolist(), preprocess=False).json()
    expected = model.predict_proba(image.reshape(1, 784).astype(np.float32))[0]
    np.testing.assert_allclose(body["probabilities"], expected, rtol=1e-4, atol=1e-6)
    assert body["digit"] == int(expected.argmax()) == mnist.y_test[0]
    assert np.array(body["input"]).shape == (28, 28)
    assert [len(a) for a in body["activations"]] == list(model.sizes[1:-1])
    assert math.isclose(sum(body["probabilities"]), 1.0, rel_tol=1e-6)


def test_pixels_are_preprocessed_like_digitnet_predict(client, mnist):
    image = mnist_digit(mnist, 1)
    shifted = np.roll(image, (5, -4), axis=(0, 1))               # off-centre: preprocessing re-centres it
    body = _predict_json(client, pixels=shifted.tolist()).json()
    np.testing.assert_allclose(body["input"], to_mnist(shifted), atol=1e-4)
    assert body["digit"] == mnist.y_test[1]


@pytest.mark.parametrize("digit", [0, 1, 7])
def test_base64_upload_and_raw_image_give_the_same_answer(client, digit):
    picture = draw_digit(digit)
    as_json = _predict_json(client, image=data_url(picture)).json()
    plain_base64 = _predict_json(client, image=base64.b64encode(png_bytes(picture)).decode()).json()
    upload = client.post("/api/predict", files={"file": ("d.png", png_bytes(picture), "image/png")}).json()
    raw = client.post("/api/predict", content=png_bytes(picture),
                      headers={"content-type": "image/png"}).json()
    assert as_json["digit"] == plain_base64["digit"] == upload["digit"] == raw["digit"] == digit
    assert as_json["probabilities"] == upload["probabilities"] == raw["probabilities"]


def _rows(value, rows=28, cols=28):
    return [[value] * cols for _ in range(rows)]


@pytest.mark.parametrize("body, status, message", [
    ({"pixels": _rows(0.5, rows=27)}, 422, "at least 28"),
    ({"pixels": _rows(0.5, cols=29)}, 422, "at most 28"),
    ({"pixels": [0.5] * 784}, 422, "pixels"),
    ({"pixels": _rows(1.5)}, 422, "less than or equal to 1"),
    ({"pixels": _rows(-0.1)}, 422, "greater than or equal to 0"),
    ({"pixels": _rows("dark")}, 422, "valid number"),
    ({}, 422, "exactly one"),
    ({"pixels": _rows(0.5), "image": "AAAA"}, 422, "exactly one"),
    ({"pixels": _rows(0.5), "colour": "red"}, 422, "colour"),
    ({"image": "not base64!"}, 422, "base64"),
    ({"image": base64.b64encode(b"hello, not a picture").decode()}, 400, "not a readable image"),
    ({"image": ""}, 400, "empty"),
    ({"pixels": _rows(0.0)}, 400, "no digit found"),
])
def test_bad_json_gets_a_clear_4xx(client, body, status, message):
    response = _predict_json(client, **body)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and message in detail and "\n" not in detail


def test_nan_and_infinity_are_refused(client):
    for token in ("NaN", "Infinity", "-Infinity"):
        rows = [[0.5] * 28 for _ in range(28)]
        text = str(rows).replace("0.5", token, 1)
        response = client.post("/api/predict", content=f'{{"pixels": {text}}}',
                               headers={"content-type": "application/json"})
        assert response.status_code == 422, (token, response.text)
        assert "finite" in response.json()["detail"] or "number" in response.json()["detail"]


def test_malformed_json_and_unknown_content_types(client):
    response = client.post("/api/predict", content=b'{"pixels": [',
                           headers={"content-type": "application/json"})
    assert response.status_code == 422 and "JSON" in response.json()["detail"]
    response = client.post("/api/predict", content=b"7", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    response = client.post("/api/predict", files={"picture": ("d.png", b"x", "image/png")})
    assert response.status_code == 422 and "'file'" in response.json()["detail"]


def test_decompression_bomb_is_refused(client):
    bomb = bomb_png()
    assert len(bomb) < MAX_BODY_BYTES                            # small on the wire ...
    response = client.post("/api/predict", files={"file": ("bomb.png", bomb, "image/png")})
    assert response.status_code == 400                           # ... refused before decoding
    assert "pixels" in response.json()["detail"]


def test_oversized_bodies_are_refused_declared_or_streamed(client):
    big = b"0" * (MAX_BODY_BYTES + 1)
    response = client.post("/api/predict", content=big, headers={"content-type": "image/png"})
    assert response.status_code == 413 and "larger than" in response.json()["detail"]

    def chunks():                                                 # no Content-Length: chunked
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"0" * 65536

    response = client.post("/api/predict", content=chunks(), headers={"content-type": "image/png"})
    assert response.status_code == 413


def test_still_serving_after_bad_requests(client, mnist):
    for body in ({"pixels": _rows(2.0)}, {"image": "!!"}, {}):
        assert _predict_json(client, **body).status_code in (400, 422)
    client.post("/api/predict", content=b"0" * (MAX_BODY_BYTES + 1), headers={"content-type": "image/png"})
    good = _predict_json(client, pixels=mnist_digit(mnist, 2).tolist(), preprocess=False)
    assert good.status_code == 200 and good.json()["digit"] == mnist.y_test[2]


def test_history_and_evaluation(client, model, mnist):
    history = client.get("/api/history").json()
    assert isinstance(history, list)
    ev = client.get("/api/evaluation", params={"limit": 20}).json()
    cm = np.array(ev["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 10000
    predicted = model.predict_proba(mnist.x_test.astype(np.float32) / 255).argmax(axis=1)
    assert np.trace(cm) == int((predicted == mnist.y_test).sum())
    assert ev["accuracy"] == pytest.approx(np.trace(cm) / 10000)
    mistakes = ev["misclassified"]
    assert 0 < len(mistakes) <= 20
    assert all(m["true"] != m["predicted"] and m["png"].startswith("data:image/png;base64,")
               for m in mistakes)
    confidences = [m["confidence"] for m in mistakes]
    assert confidences == sorted(confidences, reverse=True)


def test_a_confusion_cell_lists_its_test_images(client):
    cm = np.array(client.get("/api/evaluation").json()["confusion_matrix"])
    t, p = np.unravel_index(np.argmax(cm - np.diag(np.diag(cm))), cm.shape)   # the biggest mix-up
    cell = client.get("/api/test-images", params={"true": int(t), "predicted": int(p)}).json()
    assert cell["count"] == cm[t, p] and len(cell["images"]) == min(cm[t, p], 60)
    assert all(im["true"] == t and im["predicted"] == p for im in cell["images"])
    assert client.get("/api/test-images", params={"true": 10, "predicted": 0}).status_code == 422
    assert client.get("/api/test-images", params={"true": -1, "predicted": 0}).status_code == 422
