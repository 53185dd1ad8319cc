"""Pictures of a training run: curves, confusions, mistakes and weights.

Every function writes one PNG (atomically) and needs no display: matplotlib
is imported here only, with the non-interactive Agg backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .fileio import atomic_open


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def plot_cost(history: list[dict], path: Path, every: int = 1) -> Path:
    """The training cost per epoch (per iteration for full-batch training).

    ``every`` > 1 also marks the recorded points, as the seed recipe plotted
    its cost every 100 iterations.
    """
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [h["train_loss"] for h in history], label="training cost")
    if every > 1:
        marked = [h for h in history if (h["epoch"] - 1) % every == 0]
        ax.plot([h["epoch"] for h in marked], [h["train_loss"] for h in marked], "o",
                label=f"every {every}")
    if any(h.get("val_loss") is not None for h in history):
        ax.plot(epochs, [h["val_loss"] for h in history], label="validation cost")
    ax.set_xlabel("iteration" if every > 1 else "epoch")
    ax.set_ylabel("cross-entropy")
    ax.set_title("Cost")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_accuracy(history: list[dict], path: Path) -> Path:
    """Training and validation accuracy per epoch."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [100 * h["train_accuracy"] for h in history], label="training")
    if any(h.get("val_accuracy") is not None for h in history):
        ax.plot(epochs, [100 * h["val_accuracy"] for h in history], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_confusion(cm: np.ndarray, classes, path: Path) -> Path:
    """Heatmap of the confusion matrix, counts written in each cell."""
    plt = _pyplot()
    cm = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(7, 6))
    # Log-like colour scale so the off-diagonal mistakes are visible next to ~1000s.
    shown = np.log1p(cm)
    image = ax.imshow(shown, cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if shown[i, j] > shown.max() * 0.6 else "black")
    labels = [str(c) for c in classes]
    ax.set_xticks(range(len(labels)), labels, rotation=45 if len(labels[0]) > 2 else 0)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (test set)")
    fig.colorbar(image, ax=ax, label="log(1 + count)")
    return _save(fig, path)


def plot_misclassified(images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray,
                       probs: np.ndarray, path: Path, classes=None, limit: int = 36,
                       image_shape: tuple[int, int] | None = None) -> Path:
    """A grid of test images the network got wrong, most confident mistakes first.

    Parameters
    ----------
    images : ndarray, shape (N, n_features)
        Flattened images of ``image_shape`` (default: square, 784 -> 28x28; a
        row of values when the size is not a square).
    y_true, y_pred : ndarray, shape (N,)
    probs : ndarray, shape (N, K)
    """
    plt = _pyplot()
    wrong = np.flatnonzero(y_true != y_pred)
    wrong = wrong[np.argsort(-probs[wrong, y_pred[wrong]])][:limit]
    cols = 6
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.5, rows * 1.7), squeeze=False)
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(10)]
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong):
        ax.imshow(images[i].reshape(_shape(images.shape[1], image_shape)), cmap="gray_r")
        ax.set_title(f"true {names[y_true[i]][:7]}\npred {names[y_pred[i]][:7]} "
                     f"{100 * probs[i, y_pred[i]]:.0f}%", fontsize=7)
    fig.suptitle(f"Misclassified test images ({len(np.flatnonzero(y_true != y_pred))} in all)")
    return _save(fig, path)


def _shape(n_features: int, image_shape: tuple[int, int] | None) -> tuple[int, int]:
    """How to draw ``n_features`` values as a picture."""
    from .data import square_shape

    return image_shape or square_shape(n_features) or (1, n_features)


def plot_weights(W: np.ndarray, path: Path, limit: int = 64,
                 image_shape: tuple[int, int] | None = None) -> Path:
    """The first layer's weights, one tile per hidden unit (28x28 for MNIST).

    Each hidden unit computes a dot product with the image: red pixels push
    it up, blue ones down. Many units learn stroke-like detectors. Each tile
    is scaled to its own largest weight so faint units are visible too.
    """
    plt = _pyplot()
    n = min(limit, W.shape[1])
    cols = 8
    rows = -(-n // cols)
    h, w_ = _shape(W.shape[0], image_shape)
    tiles = np.zeros((rows * (h + 1) + 1, cols * (w_ + 1) + 1))  # 1-pixel gaps between tiles
    mask = np.ones_like(tiles, dtype=bool)
    for k in range(n):
        w = W[:, k].reshape(h, w_)
        r, c = divmod(k, cols)
        place = (slice(1 + r * (h + 1), (r + 1) * (h + 1)), slice(1 + c * (w_ + 1), (c + 1) * (w_ + 1)))
        tiles[place] = w / (np.abs(w).max() or 1.0)
        mask[place] = False
    fig, ax = plt.subplots(figsize=(cols * 1.0, rows * 1.0 + 0.4))
    ax.imshow(np.ma.masked_array(tiles, mask), cmap="coolwarm", vmin=-1, vmax=1,
              interpolation="nearest")
    ax.axis("off")
    ax.set_title(f"First-layer weights ({n} of {W.shape[1]} hidden units)")
    return _save(fig, path)


def plot_run(run_dir: Path, history: list[dict], report: dict, model, data,
             probs: np.ndarray, log_every: int = 1) -> list[Path]:
    """Write all five plots of a run into ``run_dir``; return their paths."""
    run_dir = Path(run_dir)
    y_pred = probs.argmax(axis=1)
    return [
        plot_cost(history, run_dir / "cost.png", every=log_every),
        plot_accuracy(history, run_dir / "accuracy.png"),
        plot_confusion(np.array(report["confusion_matrix"]), data.classes, run_dir / "confusion.png"),
        plot_misclassified(data.x_test, data.y_test, y_pred, probs, run_dir / "misclassified.png",
                           data.classes, image_shape=data.shape_2d),
        plot_weights(model.parameters()[0], run_dir / "weights.png", image_shape=data.shape_2d),
    ]


def plot_sweep(records: list[dict], path: Path, fields: list[str] | None = None) -> Path:
    """Validation accuracy against each swept field: one panel per field, a dot per trial.

    ``fields`` gives the panels' order (default: as recorded). Numeric
    fields are drawn on a number line (logarithmic when the values span more
    than a factor of 20, as learning rates do); other values (hidden sizes,
    names) as categories. A line joins the means per value.
    """
    plt = _pyplot()
    ok = [r for r in records if r.get("status") == "ok" and r.get("val_accuracy") is not None]
    if fields is None:
        fields = list(ok[0]["params"]) if ok else []
    fig, axes = plt.subplots(1, max(len(fields), 1), figsize=(4 * max(len(fields), 1), 3.6),
                             squeeze=False, sharey=True)
    for ax, name in zip(axes[0], fields):
        values = [r["params"][name] for r in ok]
        accuracy = np.array([100 * r["val_accuracy"] for r in ok])
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric:
            x = np.array(values, dtype=float)
            if x.min() > 0 and x.max() / x.min() > 20:
                ax.set_xscale("log")
            ax.tick_params(axis="x", labelrotation=30)  # 0.0010, 0.0012... would run together
        else:
            shown = ["x".join(map(str, v)) if isinstance(v, list) else str(v) for v in values]   # 512x256
            names = list(dict.fromkeys(shown))
            x = np.array([names.index(s) for s in shown], dtype=float)
            ax.set_xticks(range(len(names)), names, rotation=30 if len(names) > 4 else 0)
        ax.plot(x, accuracy, "o", alpha=0.6, label="a trial (one seed)")
        levels = np.unique(x)
        if len(levels) <= 12:
            ax.plot(levels, [accuracy[x == level].mean() for level in levels], "-", color="black",
                    label="mean at each value")
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation accuracy (%)")
    if fields:
        axes[0][0].legend(fontsize="small")
    fig.suptitle("Sweep: validation accuracy by setting")
    return _save(fig, path)
