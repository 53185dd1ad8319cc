"""The web app behind ``digitnet serve``: one model, a page, and a small JSON API.

Endpoints (the OpenAPI schema is at ``/openapi.json``):

* ``GET  /``                    the draw-a-digit page (static files, no CDN)
* ``POST /api/predict``         a 28x28 array or an image -> probabilities, the
                                 preprocessed 28x28 input, hidden activations
* ``GET  /api/model``           what the model is (architecture, dataset, metrics)
* ``GET  /api/history``         its training history (loss and accuracy per epoch)
* ``GET  /api/evaluation``      confusion matrix and misclassified test images
* ``GET  /api/test-images``     the test images of one confusion-matrix cell

``/api/predict`` reads a picture as ``digitnet predict`` does
(:func:`digitnet.recognise.read_digits` on what
:func:`digitnet.segment.find_digits` finds), so the page, the API and the
command line see a picture the same way; a picture of several digits also
gets the number they make and a box around each.
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..api import class_map, evaluate_indices
from ..errors import DigitnetError, ImageError
from ..losses import softmax
from ..modelfile import load_model
from ..preprocess import check_gray, decode_picture
from ..recognise import picture_shape, read_digits
from ..segment import find_digits
from .limits import MAX_BODY_BYTES, BodySizeLimit

STATIC = Path(__file__).parent / "static"
SIDE = 28

Pixel = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Row = Annotated[list[Pixel], Field(min_length=SIDE, max_length=SIDE)]


class PredictRequest(BaseModel):
    """Exactly one of ``pixels`` and ``image``."""

    model_config = ConfigDict(extra="forbid")
    pixels: Annotated[list[Row], Field(min_length=SIDE, max_length=SIDE)] | None = Field(
        None, description="28 rows of 28 values in [0, 1]: 0 = background, 1 = ink")
    image: str | None = Field(
        None, max_length=MAX_BODY_BYTES,
        description="a PNG or JPEG (any format Pillow reads), base64-encoded, optionally as a data: URL")
    preprocess: bool = Field(
        True, description="find, fit and centre the digit as `digitnet predict` does; "
                          "false feeds a 28x28 array to the network as it is")


class FoundDigit(BaseModel):
    digit: int = Field(description="index of the most probable class")
    label: str
    confidence: float
    probabilities: list[float]
    box: list[int] = Field(description="[left, top, right, bottom] in the picture's pixels")


class Prediction(BaseModel):
    status: str = Field(description="'ok', 'no digit' (see reason) or 'several digits' (see number)")
    digit: int | None = Field(description="index of the most probable class; null when there is no "
                                          "digit or several")
    label: str | None
    confidence: float | None = Field(description="the top probability")
    probabilities: list[float] = Field(description="one per class, summing to 1 (empty: no digit)")
    input: list[list[float]] = Field(description="the 28x28 image the network saw, 1 = ink")
    activations: list[list[float]] = Field(description="each hidden layer's ReLU outputs")
    number: str | None = Field(None, description="the digits read left to right, when there are several")
    digits: list[FoundDigit] = Field(default_factory=list, description="each digit found, left to right")
    reason: str | None = Field(None, description="why there is no digit")


class Problem(BaseModel):
    """Every error: one line saying what is wrong."""

    detail: str


def _problem(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": PredictRequest.model_json_schema()},
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"],
                           "properties": {"file": {"type": "string", "format": "binary"}}}},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "responses": {
        "400": _problem("the image cannot be read or shows no digit"),
        "413": _problem("the body is larger than the limit"),
        "415": _problem("unsupported content type"),
        "422": _problem("malformed JSON or values (wrong shape, out of [0, 1], NaN)"),
    },
}


class Inspector:
    """The model and, loaded on first use, its test set and evaluation."""

    def __init__(self, model_path: Path, data_dir: Path | None = None):
        self.path = Path(model_path)
        self.model, self.meta = load_model(self.path)
        self.classes = [str(c) for c in self.model.classes]
        # The picture size the network takes: 28x28 for MNIST, as the model file records it.
        try:
            self.shape: tuple[int, int] | None = picture_shape(self.model, self.meta.get("image_shape"))
        except ImageError:
            self.shape = None
        self.data_dir = data_dir
        # Inference allocates its own arrays (no shared work arrays), so
        # requests may pass through the network at the same time.
        self._evaluation = None

    def predict(self, image28: np.ndarray) -> dict:
        """The network's reading of one 28x28 input, with what it saw inside."""
        if image28.size != self.model.n_features_in:
            raise HTTPException(422, f"the network takes {self.model.n_features_in} values per image "
                                     f"(its pictures are {self._size()}), not {image28.size}")
        x = image28.reshape(1, -1).astype(self.model.dtype)
        logits, hidden = self.model.activations(x)
        p = softmax(logits.astype(np.float64))[0]                 # (10,)
        top = int(p.argmax())
        return {"status": "ok", "digit": top, "label": self.classes[top], "confidence": float(p[top]),
                "probabilities": p.tolist(),
                "input": image28.reshape(self.shape or (1, -1)).astype(float).round(4).tolist(),
                "activations": [h[0].astype(float).round(4).tolist() for h in hidden]}

    def _size(self) -> str:
        return f"{self.shape[0]}x{self.shape[1]}" if self.shape else "not pictures"

    def read(self, gray: np.ndarray, scale: float = 1.0) -> dict:
        """A picture read as ``digitnet predict`` reads it; several digits give the number too.

        ``scale``: the file's pixels per pixel of ``gray`` (boxes are given in the file's).
        """
        if self.shape is None:
            raise HTTPException(422, f"the network takes {self.model.n_features_in} values per input, "
                                     "not a picture")
        found = _find(gray)
        found.scale *= scale
        if not found.digits:
            return {"status": "no digit", "digit": None, "label": None, "confidence": None,
                    "probabilities": [], "input": np.zeros(self.shape).tolist(), "activations": [],
                    "reason": found.no_digit}
        single = read_digits(self.model, found, shape=self.shape)
        result = self.predict(single["inputs"][0])
        if len(found.digits) > 1:
            numbered = read_digits(self.model, found, number=True, shape=self.shape)
            for d in numbered["digits"]:
                del d["top3"]
            result.update(status="several digits", digit=None, label=None,
                          number=numbered["number"], digits=numbered["digits"])
        return result

    def evaluation(self) -> dict:
        """Predictions on the test set of the model's dataset (computed once)."""
        if self._evaluation is None:
            from ..data import load_dataset

            try:
                data = load_dataset(self.meta.get("dataset", "mnist"), self.data_dir, validation_size=0,
                                    splits=("test",))
                labels = class_map(self.model, data.classes)[data.y_test]   # the model's indices
                # The very evaluation of `digitnet evaluate`.
                report, probs = evaluate_indices(self.model, data.x_test, labels)
            except DigitnetError as err:
                raise HTTPException(503, f"test set not available: {err}") from None
            self._evaluation = {"images": data.x_test, "labels": labels, "shape": data.shape_2d,
                                "predicted": probs.argmax(axis=1), "confidence": probs.max(axis=1),
                                "report": report}
        return self._evaluation


def create_app(model_path: str | Path, data_dir: str | Path | None = None) -> FastAPI:
    """Build the app serving ``model_path``.

    Raises
    ------
    ModelFileError
        If the model cannot be loaded (before any server starts).
    """
    inspector = Inspector(Path(model_path), Path(data_dir) if data_dir else None)
    app = FastAPI(title="digitnet", version=__version__,
                  description="Draw a digit and watch a NumPy network read it.",
                  # FastAPI's /docs and /redoc pages load their scripts from a CDN;
                  # this app works offline, so it serves the schema alone.
                  docs_url=None, redoc_url=None,
                  responses={422: {"model": Problem, "description": "invalid parameters"},
                             413: {"model": Problem, "description": "request body too large"}})
    app.state.inspector = inspector

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        return JSONResponse(status_code=422, content={"detail": _explain(exc.errors())})

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    @app.post("/api/predict", response_model=Prediction, openapi_extra=PREDICT_BODY)
    async def predict(request: Request):
        """Predict the digit in a 28x28 array or an image."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            try:
                body = PredictRequest.model_validate_json(await request.body())
            except ValidationError as err:
                raise HTTPException(422, _explain(err.errors())) from None
            if (body.pixels is None) == (body.image is None):
                raise HTTPException(422, "give exactly one of 'pixels' (28x28 array) and 'image' (base64)")
            if body.pixels is not None:
                array = np.array(body.pixels, dtype=np.float64)
                if body.preprocess:
                    work = lambda: inspector.read(array)  # noqa: E731
                else:
                    work = lambda: inspector.predict(array)  # noqa: E731
            else:
                raw = _from_base64(body.image)
                work = lambda: inspector.read(*_decode(raw))  # noqa: E731
        elif kind == "multipart/form-data":
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise HTTPException(422, "multipart body needs an image file in the field 'file'")
            raw = await upload.read()
            work = lambda: inspector.read(*_decode(raw))  # noqa: E731
        elif kind.startswith("image/"):
            raw = await request.body()
            work = lambda: inspector.read(*_decode(raw))  # noqa: E731
        else:
            raise HTTPException(415, "send JSON ({\"pixels\": ...} or {\"image\": base64}), "
                                     "a multipart upload with field 'file', or an image/* body")
        # Decoding a big photo takes a while: do it, and the network's pass,
        # off the event loop so other requests are still answered meanwhile.
        return await run_in_threadpool(work)

    @app.get("/api/model")
    def model_info() -> dict:
        """The served model: architecture, dataset, recipe and test metrics."""
        meta = inspector.meta
        return {"file": inspector.path.name, "sizes": list(inspector.model.sizes),
                "dataset": meta.get("dataset"), "classes": inspector.classes,
                "preset": meta.get("preset"), "config": meta.get("config"),
                "metrics": meta.get("metrics"), "train_seconds": meta.get("train_seconds"),
                "epochs_run": meta.get("epochs_run")}

    @app.get("/api/history")
    def history() -> list[dict]:
        """Loss and accuracy per epoch, as recorded in the model file (empty if none)."""
        return inspector.meta.get("history") or []

    @app.get("/api/evaluation", responses={503: {"model": Problem, "description": "no test set"}})
    def evaluation(limit: Annotated[int, Query(ge=0, le=500)] = 100) -> dict:
        """Test-set confusion matrix, accuracy and the most confident mistakes."""
        ev = inspector.evaluation()
        wrong = np.flatnonzero(ev["predicted"] != ev["labels"])
        wrong = wrong[np.argsort(-ev["confidence"][wrong], kind="stable")][:limit]
        report = ev["report"]
        return {"accuracy": report["test_accuracy"], "accuracy_ci95": report["accuracy_ci95"],
                "total": report["total"], "classes": inspector.classes,
                "confusion_matrix": report["confusion_matrix"],
                "misclassified": [_test_image(ev, int(i)) for i in wrong]}

    @app.get("/api/test-images", responses={503: {"model": Problem, "description": "no test set"}})
    def test_images(true: Annotated[int, Query(ge=0, le=99)], predicted: Annotated[int, Query(ge=0, le=99)],
                    limit: Annotated[int, Query(ge=1, le=200)] = 60) -> dict:
        """Test images of class ``true`` that the model read as ``predicted``."""
        if true >= len(inspector.classes) or predicted >= len(inspector.classes):
            raise HTTPException(422, f"classes are 0..{len(inspector.classes) - 1}")
        ev = inspector.evaluation()
        chosen = np.flatnonzero((ev["labels"] == true) & (ev["predicted"] == predicted))
        return {"true": true, "predicted": predicted, "count": int(len(chosen)),
                "images": [_test_image(ev, int(i)) for i in chosen[:limit]]}

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodySizeLimit, limit=MAX_BODY_BYTES)
    return app


def _test_image(ev: dict, index: int) -> dict:
    from PIL import Image

    from ..data import square_shape

    buffer = io.BytesIO()
    image = ev["images"][index]
    Image.fromarray(image.reshape(ev.get("shape") or square_shape(image.size) or (1, -1))).save(
        buffer, format="PNG")
    return {"index": index, "true": int(ev["labels"][index]), "predicted": int(ev["predicted"][index]),
            "confidence": round(float(ev["confidence"][index]), 4),
            "png": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}


def _from_base64(text: str) -> bytes:
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(422, "'image' is not valid base64") from None


def _decode(raw: bytes) -> tuple[np.ndarray, float]:
    """An uploaded picture's grey levels, and the file's pixels per array pixel (large photos)."""
    if not raw:
        raise HTTPException(400, "image: empty body")
    try:
        return decode_picture(io.BytesIO(raw), "image")
    except ImageError as err:
        raise HTTPException(400, str(err)) from None


def _find(gray: np.ndarray):
    """The digits in a picture, found as ``digitnet predict`` finds them; a blank picture is a 400."""
    try:
        return find_digits(check_gray(gray))
    except ImageError as err:
        raise HTTPException(400, str(err)) from None


def _explain(errors) -> str:
    """Pydantic's error list as one readable line."""
    parts = []
    for error in errors[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more

