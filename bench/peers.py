"""The peers digitnet is measured against, each written the way its users write it.

* PyTorch: a plain ``nn.Sequential`` and the minimal training loop, indexing
  tensors directly (no DataLoader), with the default Adam and with
  ``fused=True``.
* scikit-learn: ``MLPClassifier`` with the same hidden sizes, Adam and batch
  size, one ``partial_fit`` per epoch.
* The seed recipe written literally (float64, features x examples, the
  dict-of-arrays style of the original blog code; only the bugs that stop it
  from running are fixed), as the from-scratch baseline.

Each ``*Trainer`` has ``epoch()`` (one pass over the data, timed by the
caller) and ``test_accuracy()``.
"""

from __future__ import annotations

import numpy as np


class TorchTrainer:
    """PyTorch: ``nn.Sequential`` of Linear + ReLU (+ Dropout), CrossEntropyLoss, Adam."""

    def __init__(self, x_train, y_train, hidden, batch_size=128, lr=1e-3, fused=False, seed=0,
                 dropout=0.0, schedule_epochs=None, x_test=None, y_test=None):
        import torch
        from torch import nn

        torch.manual_seed(seed)
        self.torch = torch
        sizes = [784, *hidden, 10]
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
                if dropout:
                    layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*layers)
        self.x = torch.from_numpy(x_train.astype(np.float32) / 255.0)
        self.y = torch.from_numpy(y_train.astype(np.int64))
        self.x_test = None if x_test is None else torch.from_numpy(x_test.astype(np.float32) / 255.0)
        self.y_test = None if y_test is None else torch.from_numpy(y_test.astype(np.int64))
        self.batch_size = batch_size
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr, fused=fused or None)
        self.loss = nn.CrossEntropyLoss()
        self.scheduler = None
        if schedule_epochs:
            steps = schedule_epochs * -(-len(self.x) // batch_size)
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, steps)

    def epoch(self, limit=None):
        torch, n = self.torch, len(self.x) if limit is None else limit
        self.model.train()
        order = torch.randperm(len(self.x))[:n]
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            self.optimizer.zero_grad()
            loss = self.loss(self.model(self.x[idx]), self.y[idx])
            loss.backward()
            self.optimizer.step()
            if self.scheduler is not None:
                self.scheduler.step()

    def test_accuracy(self):
        self.model.eval()
        with self.torch.no_grad():
            return float((self.model(self.x_test).argmax(1) == self.y_test).float().mean())


class SklearnTrainer:
    """scikit-learn's MLPClassifier, Adam, one epoch per ``partial_fit``."""

    def __init__(self, x_train, y_train, hidden, batch_size=128, lr=1e-3, seed=0):
        from sklearn.neural_network import MLPClassifier

        self.x = x_train.astype(np.float32) / 255.0
        self.y = y_train
        self.model = MLPClassifier(hidden_layer_sizes=hidden, solver="adam", batch_size=batch_size,
                                   learning_rate_init=lr, alpha=0.0, random_state=seed)
        self.classes = np.arange(10)

    def epoch(self):
        self.model.partial_fit(self.x, self.y, classes=self.classes)


# --- the seed recipe, literally ----------------------------------------------------------
# Transcribed from the blog post (features x examples, float64, dicts of arrays);
# fixed only where it cannot run: shape[0]/shape[1] for m and the layer sizes,
# and the cost as a float.

def relu(p):
    return np.maximum(0, p)


def softmax(u):
    return np.exp(u) / np.sum(np.exp(u), axis=0, keepdims=True)


def drelu(x):
    x[x <= 0] = 0
    x[x > 0] = 1
    return x


class SeedLiteral:
    """The blog post's full-batch gradient descent, as published (bugs that stop it fixed)."""

    def __init__(self, x_train, y_train, parameters, learning_rate=0.005):
        self.X_train = (x_train.reshape(len(x_train), -1).T / 255.0)          # (784, m) float64
        self.Y_train = np.eye(10)[y_train].T                                  # (10, m) one-hot
        self.m = self.X_train.shape[1]
        self.parameters = {k: v.astype(np.float64) for k, v in parameters.items()}
        self.learning_rate = learning_rate

    def forward_prop(self):
        parameters, outputs, activation = self.parameters, {}, {}
        outputs["Z1"] = np.dot(parameters["W1"], self.X_train) + parameters["b1"]
        activation["A1"] = relu(outputs["Z1"])
        for l in range(2, 4):
            outputs["Z" + str(l)] = np.dot(parameters["W" + str(l)], activation["A" + str(l - 1)]) + parameters["b" + str(l)]
            activation["A" + str(l)] = relu(outputs["Z" + str(l)])
        outputs["Z4"] = np.dot(parameters["W4"], activation["A3"]) + parameters["b4"]
        activation["A4"] = softmax(outputs["Z4"])
        return outputs, activation

    def compute_cost(self, activation):
        loss = -np.sum((self.Y_train * np.log(activation["A4"])), axis=0, keepdims=True)
        return float(np.sum(loss, axis=1)[0] / self.m)

    def grad_re(self, outputs, activation):
        parameters, grad_reg, m = self.parameters, {}, self.m
        grad_reg["dZ4"] = (activation["A4"] - self.Y_train) / m
        for l in range(1, 4):
            grad_reg["dA" + str(4 - l)] = np.dot(parameters["W" + str(4 - l + 1)].T, grad_reg["dZ" + str(4 - l + 1)])
            grad_reg["dZ" + str(4 - l)] = grad_reg["dA" + str(4 - l)] * drelu(outputs["Z" + str(4 - l)])
        grad_reg["dW1"] = np.dot(grad_reg["dZ1"], self.X_train.T)
        grad_reg["db1"] = np.sum(grad_reg["dZ1"], axis=1, keepdims=True)
        for l in range(2, 5):
            grad_reg["dW" + str(l)] = np.dot(grad_reg["dZ" + str(l)], activation["A" + str(l - 1)].T)
            grad_reg["db" + str(l)] = np.sum(grad_reg["dZ" + str(l)], axis=1, keepdims=True)
        return grad_reg

    def learning(self, grad_reg):
        for i in range(1, 5):
            self.parameters["W" + str(i)] = self.parameters["W" + str(i)] - (self.learning_rate * grad_reg["dW" + str(i)])
            self.parameters["b" + str(i)] = self.parameters["b" + str(i)] - (self.learning_rate * grad_reg["db" + str(i)])

    def iteration(self) -> float:
        """One full-batch step; returns the cost before it, as the original printed."""
        outputs, activation = self.forward_prop()
        cost = self.compute_cost(activation)
        self.learning(self.grad_re(outputs, activation))
        return cost


def seed_parameters_from(model) -> dict:
    """digitnet's (in, out) weights as the blog's (out, in) W and (out, 1) b."""
    params = {}
    for name, p in model.named_parameters():
        layer = int(name.split(".")[0][5:]) + 1
        params[("W" if name.endswith("W") else "b") + str(layer)] = p.T if p.ndim == 2 else p[:, None]
    return params
