# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. Judge it, then use it
#
# A single accuracy figure hides a lot: how sure we can be of it, which digits are confused
# with which, how confidently the network is wrong. Then the real test: a digit nobody put in a
# dataset. We use the model shipped with digitnet, `models/mnist-best-augmented.npz` (two
# hidden layers of 1,024 units trained with distorted digits), on the 10,000 MNIST test images
# it never saw in training.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

import digitnet as dn
from digitnet.metrics import format_report, wilson_interval
from digitnet.web.serve import default_model

net, meta = dn.load_model(default_model())   # models/mnist-best-augmented.npz, here or in the repository
mnist = dn.load_dataset("mnist", validation_size=0)
print(net, "\ntrained with preset", repr(meta["preset"]), "for", meta["epochs_run"], "epochs")

# %% [markdown]
# ## Accuracy, with its uncertainty
#
# 10,000 test images are a sample. Had MNIST drawn another 10,000, the accuracy would come out
# a little different. The **Wilson score interval** gives the range of true accuracies
# consistent with what we measured (95% confidence); unlike the textbook `p +- 1.96 sqrt(p(1-p)
# / n)` it stays inside [0, 1] and is accurate near 100%, where test accuracies live
# (Wilson, 1927; Brown, Cai & DasGupta, 2001).

# %%
report = dn.evaluate(net, mnist.x_test, mnist.y_test)
correct, total = report["correct"], report["total"]
low, high = report["accuracy_ci95"]
print(f"accuracy {correct}/{total} = {correct / total:.2%}, 95% CI {low:.2%} to {high:.2%}")

z, p = 1.959964, correct / total                        # the interval by hand
centre = (p + z * z / (2 * total)) / (1 + z * z / total)
half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
assert np.allclose((centre - half, centre + half), (low, high))
assert np.allclose(wilson_interval(correct, total), (low, high))
assert report["test_accuracy"] >= 0.99 and low < report["test_accuracy"] < high

# %% [markdown]
# ## Precision, recall, F1 and the confusion matrix
#
# The **confusion matrix** `C[i, j]` counts test images of digit `i` read as `j`; the diagonal
# is what went right. From it, per digit:
#
# * **precision**: of the images read as `j`, the share that really are `j` (column `j`);
# * **recall**: of the real `i`s, the share found (row `i`);
# * **F1**: their harmonic mean, high only when both are.

# %%
print(format_report(report, net.classes))
C = np.array(report["confusion_matrix"])
precision = np.diag(C) / C.sum(axis=0)                  # column sums: how often each digit was answered
recall = np.diag(C) / C.sum(axis=1)                     # row sums: how often each digit was shown
f1 = 2 * precision * recall / (precision + recall)
assert np.allclose(precision, [row["precision"] for row in report["per_class"]])
assert np.allclose(recall, [row["recall"] for row in report["per_class"]])
assert np.allclose(f1, [row["f1"] for row in report["per_class"]])
assert np.isclose(report["macro_f1"], f1.mean())

# %%
off_diagonal = C - np.diag(np.diag(C))                  # only the mistakes
plt.figure(figsize=(4.5, 4))
plt.imshow(off_diagonal, cmap="Reds")
plt.colorbar(label="test images")
plt.xticks(range(10))
plt.yticks(range(10))
plt.xlabel("read as")
plt.ylabel("true digit")
plt.title("mistakes only (diagonal removed)")
plt.show()
worst = np.unravel_index(off_diagonal.argmax(), C.shape)
print(f"most frequent confusion: {worst[0]} read as {worst[1]}, {off_diagonal.max()} times")

# %% [markdown]
# ## The most confident mistakes
#
# A mistake made at 51% is forgivable; one made with the network's full confidence tells us
# where its picture of a digit is wrong, or where the label itself is doubtful (MNIST has a
# few). This model was trained with label smoothing (tutorial 3), which keeps its
# probabilities below about 93% even when it is right, so "full confidence" here is about 90%.

# %%
probs = net.predict_proba(mnist.x_test)                 # (10000, 10)
predicted = probs.argmax(axis=1)
wrong = np.flatnonzero(predicted != mnist.y_test)
assert len(wrong) == total - correct
order = wrong[np.argsort(-probs[wrong].max(axis=1))][:8]      # the most confident first
shown = probs[order].max(axis=1)
assert np.all(np.diff(shown) <= 0) and shown[0] == probs[wrong].max()
fig, axes = plt.subplots(1, 8, figsize=(12, 2))
for ax, i in zip(axes, order):
    ax.imshow(mnist.x_test[i].reshape(28, 28), cmap="gray")
    ax.set_title(f"{mnist.y_test[i]} read {predicted[i]}\n{probs[i].max():.0%}", fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Reading your own digit
#
# MNIST digits are light ink on black, fitted in a 20x20 box and centred by centre of mass in a
# 28x28 field. A photo of a digit on paper is none of that, so `digitnet predict` first makes
# it look like one (`digitnet.preprocess.to_mnist`). Here is a "7" as a phone might see it:
# dark pen on grey paper, a shadow across the page, off-centre, blurred, noisy.

# %%
rng = np.random.default_rng(7)
photo = Image.new("L", (360, 300), 150)                 # grey paper
pen = ImageDraw.Draw(photo)
pen.line([(150, 70), (250, 70), (185, 240)], fill=40, width=14, joint="curve")
photo = photo.filter(ImageFilter.GaussianBlur(2))
shade = np.linspace(1.15, 0.8, 360)[None, :]            # a shadow across the page
gray = np.clip(np.asarray(photo, dtype=np.float64) / 255 * shade + rng.normal(0, 0.02, (300, 360)), 0, 1)

# %% [markdown]
# The stages of `to_mnist`, one by one (small functions in `segment.py` and `preprocess.py`; the
# image processing itself is scipy.ndimage and scikit-image):
#
# 1. **ink**: the paper's brightness is estimated locally (a closing wider than any stroke, on
#    a small copy of the picture), so grey paper and the shadow go; whether ink is darker or
#    lighter than the paper is read from the picture; the result is ink 1, paper 0;
# 2. **threshold**: Otsu's method picks the level that best splits ink from paper; connected
#    pieces of ink that are lines along the edges, or specks, are dropped; what is left is cut
#    out (`find_digits`; several digits side by side come out one by one);
# 3. **thicken and shrink**: strokes that would become thinner than MNIST's are dilated, then
#    the crop is resized (anti-aliased) so its longer side is 20 pixels;
# 4. **centre**: placed in 28x28 with its centre of mass at the centre.

# %%
from digitnet import preprocess, segment

ink = segment.ink_image(gray)
mask = ink > segment.threshold(ink)
found = segment.find_digits(gray)
digit = segment.join(found.digits)                      # everything found, as one digit
left, top, right, bottom = digit.box
floor = 0.4 * preprocess.FLOOR_THRESHOLD                # paper grain below the ink goes to 0
crop = np.clip((digit.ink - floor) / (1 - floor), 0, 1)
scale = preprocess.MNIST_BOX / max(crop.shape)
thick = preprocess._thicken(crop, digit.mask, scale)
print("strokes thickened before shrinking:", thick is not crop, "(this pen is wide enough)" * (thick is crop))
small = preprocess._resize(thick, scale)
field = preprocess._centre_by_mass(small)
stages = {"photo": gray, "1. ink, light on dark": ink, "2. threshold": mask, "   cut out": crop,
          "3. 20x20 box": small, "4. centred 28x28": field}
fig, axes = plt.subplots(1, len(stages), figsize=(13, 2.4))
for ax, (title, image) in zip(axes, stages.items()):
    ax.imshow(image, cmap="gray")
    ax.set_title(f"{title}\n{image.shape}", fontsize=9)
    ax.axis("off")
plt.show()
x = preprocess.to_mnist(gray).reshape(1, 784)           # what `digitnet predict` feeds the network
assert np.allclose(x.reshape(28, 28), field, atol=1e-3)

# %%
p = net.predict_proba(x)[0]
print("read as", net.classes[p.argmax()], f"with probability {p.max():.1%}")
plt.figure(figsize=(5, 2.5))
plt.bar(net.classes, p)
plt.xticks(net.classes)
plt.ylabel("probability")
plt.show()
assert net.classes[p.argmax()] == 7

# %% [markdown]
# ## A whole number, and an honest "no"
#
# `digitnet.recognise.read_picture` is what `digitnet predict` and the page call. With
# `number=True` it cuts the picture into digits (connected pieces of ink, left to right) and
# reads each; a dot or a picture of empty form lines is "no digit", not a guess. Below,
# `min_confidence` turns a weak answer into "unsure": `digitnet evaluate` prints what each
# threshold costs on the test set (the risk-coverage table).

# %%
from digitnet.recognise import read_picture

sheet = Image.new("L", (420, 160), 235)
pen = ImageDraw.Draw(sheet)
pen.line([(40, 40), (40, 95), (95, 95)], fill=20, width=12)           # a 4 ...
pen.line([(80, 30), (80, 130)], fill=20, width=12)
pen.line([(150, 45), (190, 30), (225, 50), (150, 130), (230, 130)], fill=20, width=12, joint="curve")  # a 2
pen.line([(280, 35), (350, 35), (305, 135)], fill=20, width=12)        # a 7
reading = read_picture(net, np.asarray(sheet, dtype=np.float64) / 255, number=True)
print("number:", reading["number"], [(d["label"], d["box"]) for d in reading["digits"]])
dot = np.ones((200, 200))
dot[98:104, 98:104] = 0                                                # one tap of a pen
print(read_picture(net, dot)["status"], "-", read_picture(net, dot)["reason"])

# %% [markdown]
# ## A peek inside
#
# Each first-layer unit computes a weighted sum of the 784 pixels: its 784 weights, drawn as a
# 28x28 picture, show what it looks for (red: ink there raises its output, blue: lowers it).
# Trained on digits, they look like strokes and blotches; at random initialisation they are
# noise.

# %%
W1 = next(layer for layer in net.layers if isinstance(layer, dn.Dense)).params["W"]   # (784, 1024)
assert W1.shape == (784, 1024)
fig, axes = plt.subplots(2, 8, figsize=(12, 3.2))
for k, ax in enumerate(axes.ravel()):
    w = W1[:, k].reshape(28, 28)
    ax.imshow(w, cmap="RdBu_r", vmin=-np.abs(w).max(), vmax=np.abs(w).max())
    ax.axis("off")
plt.suptitle("16 of the 1,024 first-layer units")
plt.show()

# %% [markdown]
# The same for a network just initialised (He: random normal weights). A number to tell them
# apart: how alike the weights of neighbouring pixels are (their correlation, the median over
# the units). Trained weights vary smoothly across the image, like the strokes they match;
# random ones do not.

# %%
fresh = dn.build_mlp(dn.Architecture(784, (1024, 1024), 10), np.random.default_rng(0))
W0 = fresh.layers[0].params["W"]
fig, axes = plt.subplots(1, 8, figsize=(12, 1.8))
for k, ax in enumerate(axes):
    w = W0[:, k].reshape(28, 28)
    ax.imshow(w, cmap="RdBu_r", vmin=-np.abs(w).max(), vmax=np.abs(w).max())   # white is 0
    ax.axis("off")
plt.suptitle("8 units at random initialisation")
plt.show()


def neighbour_correlation(W):
    """Median over units of the correlation between horizontally adjacent pixels' weights."""
    image = W.reshape(28, 28, -1)
    left = image[:, :-1].reshape(-1, W.shape[1])
    right = image[:, 1:].reshape(-1, W.shape[1])
    left, right = left - left.mean(axis=0), right - right.mean(axis=0)
    r = (left * right).sum(axis=0) / np.sqrt((left**2).sum(axis=0) * (right**2).sum(axis=0))
    return float(np.median(r))


smooth_trained, smooth_random = neighbour_correlation(W1), neighbour_correlation(W0)
print(f"neighbouring weights' correlation: trained {smooth_trained:.2f}, random {smooth_random:.2f}")
assert smooth_trained > 0.3 and abs(smooth_random) < 0.1

# %% [markdown]
# And what happens inside for our "7": `net.activations(x)` returns the logits and each hidden
# layer's output. ReLU units are either silent (0) or active; a digit lights up only some of
# them, a different set for each digit.

# %%
logits, hidden = net.activations(x)
for i, h in enumerate(hidden, start=1):
    print(f"hidden layer {i}: {h.shape[1]} units, {np.count_nonzero(h)} active for this digit")
one = mnist.x_test[mnist.y_test == 1][:1]               # a "1" from the test set, for contrast
_, hidden_one = net.activations(one)
plt.figure(figsize=(8, 2.5))
units = np.arange(200)
plt.vlines(units - 0.2, 0, hidden[1][0, :200], label='our "7"')
plt.vlines(units + 0.2, 0, hidden_one[1][0, :200], color="tab:orange", label='a test "1"')
plt.xlabel("unit of the second hidden layer (first 200)")
plt.ylabel("activation")
plt.legend()
plt.show()
assert logits.shape == (1, 10) and np.allclose(dn.softmax(logits), p[None, :], atol=1e-6)
assert all(0 < np.count_nonzero(h) < h.shape[1] for h in hidden)
for i, (ours, theirs) in enumerate(zip(hidden, hidden_one), start=1):
    both, either = np.sum((ours > 0) & (theirs > 0)), np.sum((ours > 0) | (theirs > 0))
    print(f"hidden layer {i}: {both} of the {either} units active for either digit are active for both")
    assert both < 0.5 * either                            # mostly different units
