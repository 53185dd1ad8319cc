"""Optimizer update formulas, worked by hand."""

import copy

import numpy as np
import pytest

from digitnet import Architecture, build_mlp, fit
from digitnet.optim import SGD, Adam, make_optimizer


def params_and_grads(g=(0.5, -1.0)):
    """One 'weight matrix' (1, 2) and one bias (1,), with a fixed gradient."""
    W = np.array([[1.0, 2.0]])
    b = np.array([1.0])
    return [W, b], [np.array([list(g)]), np.array([0.2])]


def test_plain_sgd():
    params, grads = params_and_grads()
    SGD(lr=0.1).step(params, grads)
    np.testing.assert_allclose(params[0], [[0.95, 2.1]])
    np.testing.assert_allclose(params[1], [0.98])


def test_momentum_two_steps():
    params, grads = params_and_grads()
    opt = SGD(lr=0.1, momentum=0.9)
    opt.step(params, grads)           # v = g          -> p = p - 0.1 g
    opt.step(params, grads)           # v = 0.9g + g   -> p = p - 0.19 g
    np.testing.assert_allclose(params[0], [[0.855, 2.29]])


def test_nesterov_two_steps():
    params, grads = params_and_grads()
    opt = SGD(lr=0.1, momentum=0.9, nesterov=True)
    opt.step(params, grads)           # v = g,    step g + 0.9 v = 1.9 g
    np.testing.assert_allclose(params[0], [[0.905, 2.19]])
    opt.step(params, grads)           # v = 1.9g, step g + 0.9 v = 2.71 g
    np.testing.assert_allclose(params[0], [[0.7695, 2.461]])


def test_weight_decay_on_weights_not_biases():
    params, _ = params_and_grads()
    zero = [np.zeros_like(p) for p in params]
    SGD(lr=0.1, weight_decay=0.1).step(params, zero)
    np.testing.assert_allclose(params[0], [[0.99, 1.98]])   # W -= lr * wd * W
    np.testing.assert_allclose(params[1], [1.0])            # bias untouched


def test_adam_first_step_is_lr_times_sign():
    params, grads = params_and_grads()
    Adam(lr=0.01).step(params, grads)
    # m_hat = g, v_hat = g^2, so the step is lr * g / |g|.
    np.testing.assert_allclose(params[0], [[0.99, 2.01]], rtol=1e-7)
    np.testing.assert_allclose(params[1], [0.99], rtol=1e-7)


def test_adam_second_step_matches_textbook():
    params, grads = params_and_grads()
    opt = Adam(lr=0.01)
    opt.step(params, grads)
    g2 = [np.array([[0.25, 0.0]]), np.array([-0.4])]
    before = params[0].copy()
    opt.step(params, g2)
    g1 = np.array([[0.5, -1.0]])
    m = 0.9 * 0.1 * g1 + 0.1 * g2[0]
    v = 0.999 * 0.001 * g1**2 + 0.001 * g2[0] ** 2
    m_hat, v_hat = m / (1 - 0.9**2), v / (1 - 0.999**2)
    np.testing.assert_allclose(params[0], before - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-8), rtol=1e-9)
    # worked by hand for the first entry: m_hat = 0.368421, v_hat = 0.156203
    assert params[0][0, 0] == pytest.approx(0.99 - 0.0093218, abs=1e-6)


def test_adam_l2_versus_adamw():
    coupled, _ = params_and_grads()
    decoupled, _ = params_and_grads()
    zero = [np.zeros_like(p) for p in coupled]
    Adam(lr=0.01, weight_decay=0.1).step(coupled, zero)
    Adam(lr=0.01, weight_decay=0.1, decoupled=True).step(decoupled, zero)
    # Adam + L2: gradient wd*W, normalised by Adam to a step of lr * sign = 0.01.
    np.testing.assert_allclose(coupled[0], [[0.99, 1.99]], rtol=1e-6)
    # AdamW: W shrinks by lr*wd*W = 0.1%, and the zero gradient moves nothing.
    np.testing.assert_allclose(decoupled[0], [[0.999, 1.998]])
    np.testing.assert_allclose(decoupled[1], [1.0])


def test_float32_parameters_stay_float32():
    W = np.ones((3, 3), np.float32)
    g = np.full((3, 3), 0.1, np.float32)
    for opt in (SGD(0.1, momentum=0.9), Adam(0.1, weight_decay=0.01)):
        opt.step([W], [g])
        assert W.dtype == np.float32


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "adamw"])
def test_make_optimizer(name):
    opt = make_optimizer(name, 0.01)
    assert opt.lr == 0.01


def test_bad_arguments():
    with pytest.raises(ValueError):
        make_optimizer("rmsprop", 0.01)
    with pytest.raises(ValueError):
        SGD(lr=-1)
    with pytest.raises(ValueError):
        SGD(lr=0.1, nesterov=True)


def textbook_adam(params, grad_steps, lr=0.01, b1=0.9, b2=0.999, eps=1e-8):
    """Adam as the paper writes it, in float64, one array at a time."""
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t, grads in enumerate(grad_steps, start=1):
        for p, g, mi, vi in zip(params, grads, m, v):
            mi[...] = b1 * mi + (1 - b1) * g
            vi[...] = b2 * vi + (1 - b2) * g**2
            p -= lr * (mi / (1 - b1**t)) / (np.sqrt(vi / (1 - b2**t)) + eps)
    return m, v


def test_adam_matches_textbook_over_many_steps():
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((4, 3)), rng.standard_normal(3)]
    # Gradients of very different sizes, including zeros, over 50 steps.
    steps = [[rng.standard_normal(p.shape) * 10.0 ** rng.integers(-6, 3) for p in start] for _ in range(50)]
    steps[7][0][...] = 0.0
    ours, reference = [p.copy() for p in start], [p.copy() for p in start]
    opt = Adam(lr=0.01)
    for grads in steps:
        opt.step(ours, grads)
    m, v = textbook_adam(reference, steps)
    for p, q in zip(ours, reference):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-15)
    # The kept moments are the textbook ones, one array per parameter.
    state, scalars = opt.state_dict()
    assert scalars["t"] == 50 and [a.shape for a in state["m"]] == [(4, 3), (3,)]
    for kept, textbook in zip(state["m"] + state["v"], m + v):
        np.testing.assert_allclose(kept, textbook, rtol=1e-12, atol=1e-300)


def test_adam_resumes_from_textbook_moments():
    """A state saved as textbook m and v continues the same run."""
    rng = np.random.default_rng(1)
    start = [rng.standard_normal((4, 3))]
    steps = [[rng.standard_normal((4, 3))] for _ in range(6)]
    straight = [start[0].copy()]
    opt = Adam(lr=0.01)
    for grads in steps:
        opt.step(straight, grads)
    resumed = [start[0].copy()]
    m, v = textbook_adam(resumed, steps[:3])
    later = Adam(lr=0.01)
    later.load_state_dict({"m": [m[0]], "v": [v[0]]}, {"lr": 0.01, "t": 3})
    for grads in steps[3:]:
        later.step(resumed, grads)
    np.testing.assert_allclose(resumed[0], straight[0], rtol=1e-12)


def reference_step(name, params, grads, state, t, lr=0.01, momentum=0.9, wd=0.01):
    """Each optimizer's formula, array by array, in float64 (weights decay, biases do not)."""
    for i, (p, g) in enumerate(zip(params, grads)):
        decays = p.ndim > 1
        if name != "adamw" and decays:
            g = g + wd * p
        if name in ("momentum", "nesterov"):
            v = state.setdefault(i, np.zeros_like(p))
            v[...] = momentum * v + g
            p -= lr * (g + momentum * v if name == "nesterov" else v)
        elif name == "sgd":
            p -= lr * g
        else:
            m, v = state.setdefault(i, (np.zeros_like(p), np.zeros_like(p)))
            m[...] = 0.9 * m + 0.1 * g
            v[...] = 0.999 * v + 0.001 * g**2
            step = lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
            p -= step + (lr * wd * p if name == "adamw" and decays else 0)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "adamw"])
def test_every_optimizer_matches_its_formula_on_many_arrays(name):
    """Arrays larger than a piece (cut in place) and small ones (updated together) alike."""
    from digitnet.foreach import PIECE

    rng = np.random.default_rng(3)
    shapes = [(300, 250), (250,), (250, 10), (10,), (3, 3), (PIECE,)]
    assert 300 * 250 > 2 * PIECE                          # the first one spans three pieces
    start = [rng.standard_normal(shape) for shape in shapes]
    ours, reference = [p.copy() for p in start], [p.copy() for p in start]
    opt, state = make_optimizer(name, 0.01, momentum=0.9, weight_decay=0.01), {}
    for t in range(1, 6):
        grads = [rng.standard_normal(shape) for shape in shapes]
        opt.step(ours, grads)
        reference_step(name, reference, grads, state, t)
    for p, q in zip(ours, reference):
        np.testing.assert_allclose(p, q, rtol=1e-11, atol=1e-13)


def test_optimizer_state_follows_a_copied_network():
    """Same shapes, new arrays (a deep-copied network): the state carries over."""
    rng = np.random.default_rng(4)
    a = [rng.standard_normal((5, 4)), rng.standard_normal(4)]
    b = [p.copy() for p in a]
    steps = [[rng.standard_normal(p.shape) for p in a] for _ in range(4)]
    one, two = Adam(lr=0.01), Adam(lr=0.01)
    for grads in steps[:2]:
        one.step(a, grads)
        two.step(b, grads)
    b = [p.copy() for p in b]                 # new arrays, as after copy.deepcopy(network)
    for grads in steps[2:]:
        one.step(a, grads)
        two.step(b, grads)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)


# The first update's weight-decay term: lr * wd * W0 (Nesterov's first step is (1 + momentum) g).
FIRST_STEP_DECAY = {"sgd": 1.0, "momentum": 1.0, "nesterov": 1.9, "adamw": 1.0, "adam": None}


@pytest.mark.parametrize("name", list(FIRST_STEP_DECAY))
def test_training_with_weight_decay_shrinks_weight_matrices_and_leaves_biases(name):
    """Through digitnet.fit: one full-batch step with and without decay, from the same weights.

    The only difference the decay may make is ``-lr * wd * W0`` on each weight
    matrix (Adam rescales it, so only its direction is checked); biases get
    exactly the same update. The biases start away from zero (a new network's
    are zero, and decaying zero changes nothing).
    """
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 5)), rng.integers(0, 3, 60)
    start = build_mlp(Architecture(input_size=5, hidden=(8, 6), output_size=3), rng, np.float64)
    for layer in start.layers:
        if "b" in layer.params:
            layer.params["b"][...] = rng.normal(size=layer.params["b"].shape)
    settings = dict(epochs=1, batch_size=0, optimizer=name, lr=0.05, momentum=0.9, schedule="constant")
    plain = fit(X, y, model=copy.deepcopy(start), **settings)
    decayed = fit(X, y, model=copy.deepcopy(start), weight_decay=0.1, **settings)
    names = [n for n, _ in start.named_parameters()]
    assert names == ["layer0.W", "layer0.b", "layer1.W", "layer1.b", "layer2.W", "layer2.b"]
    for n, p, q, w0 in zip(names, plain.parameters(), decayed.parameters(), start.parameters()):
        if n.endswith(".b"):
            np.testing.assert_array_equal(q, p, err_msg=f"{n}: a bias was decayed")
        elif FIRST_STEP_DECAY[name] is None:
            assert np.all(np.sign(p - q) == np.sign(w0)), n          # pulled towards zero
        else:
            np.testing.assert_allclose(q - p, -FIRST_STEP_DECAY[name] * 0.05 * 0.1 * w0,
                                       rtol=1e-8, atol=1e-13, err_msg=n)


SGD_RANGES = r"^need lr > 0, 0 <= momentum < 1, weight_decay >= 0$"
ADAM_RANGES = r"^need lr > 0, 0 <= beta < 1, eps > 0, weight_decay >= 0$"


@pytest.mark.parametrize("make, message", [
    (lambda: SGD(lr=0.0), SGD_RANGES),
    (lambda: SGD(lr=0.1, momentum=1.0), SGD_RANGES),
    (lambda: SGD(lr=0.1, momentum=1.5), SGD_RANGES),
    (lambda: SGD(lr=0.1, momentum=-0.1), SGD_RANGES),
    (lambda: SGD(lr=0.1, weight_decay=-0.01), SGD_RANGES),
    (lambda: SGD(lr=0.1, nesterov=True), r"^Nesterov momentum needs momentum > 0$"),
    (lambda: Adam(lr=0.0), ADAM_RANGES),
    (lambda: Adam(beta1=1.0), ADAM_RANGES),
    (lambda: Adam(beta1=-0.1), ADAM_RANGES),
    (lambda: Adam(beta2=1.0), ADAM_RANGES),
    (lambda: Adam(beta2=-0.1), ADAM_RANGES),
    (lambda: Adam(eps=0.0), ADAM_RANGES),
    (lambda: Adam(weight_decay=-0.01), ADAM_RANGES),
    (lambda: make_optimizer("rmsprop", 0.01),
     r"^unknown optimizer 'rmsprop'; choose one of sgd, momentum, nesterov, adam, adamw$"),
])
def test_a_value_out_of_range_is_refused_with_the_ranges(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_values_at_the_edges_of_the_ranges_are_accepted():
    SGD(lr=2.0, momentum=0.0, weight_decay=0.0)
    SGD(lr=0.1, momentum=0.999, nesterov=True, weight_decay=1.5)
    Adam(lr=2.0, beta1=0.0, beta2=0.0, eps=2.0, weight_decay=1.5)


def test_default_settings():
    sgd = SGD(lr=0.1)
    assert (sgd.momentum, sgd.nesterov, sgd.weight_decay) == (0.0, False, 0.0)
    adam = Adam()
    assert (adam.lr, adam.beta1, adam.beta2, adam.eps) == (1e-3, 0.9, 0.999, 1e-8)
    assert (adam.weight_decay, adam.decoupled) == (0.0, False)


@pytest.mark.parametrize("name, kind, settings", [
    ("sgd", SGD, {"momentum": 0.0, "nesterov": False}),
    ("momentum", SGD, {"momentum": 0.9, "nesterov": False}),
    ("nesterov", SGD, {"momentum": 0.9, "nesterov": True}),
    ("adam", Adam, {"decoupled": False}),
    ("adamw", Adam, {"decoupled": True}),
])
def test_make_optimizer_builds_the_named_one_with_its_settings(name, kind, settings):
    opt = make_optimizer(name, 0.01, weight_decay=0.05)          # momentum: the default, 0.9
    assert type(opt) is kind and opt.lr == 0.01 and opt.weight_decay == 0.05
    assert {key: getattr(opt, key) for key in settings} == settings


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "adamw"])
def test_a_step_allocates_no_array_after_the_first(name):
    """The update runs in the optimizer's own scratch space (README, "Speed")."""
    import tracemalloc

    rng = np.random.default_rng(5)
    shapes = [(300, 250), (250,), (250, 10), (10,)]                 # pieces of one and of several arrays
    params = [rng.standard_normal(shape) for shape in shapes]
    grads = [rng.standard_normal(shape) for shape in shapes]
    opt = make_optimizer(name, 0.01, weight_decay=0.01)
    opt.step(params, grads)
    tracemalloc.start()
    opt.step(params, grads)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4096        # a fresh array for the largest piece, 32,768 numbers, is 256 KiB


def test_plain_sgd_keeps_no_state_and_momentum_resumes_from_its_velocity():
    params, grads = params_and_grads()
    plain = SGD(lr=0.1)
    plain.step(params, grads)
    assert plain.state_dict() == ({}, {"lr": 0.1})
    assert make_optimizer("sgd", 0.1).weight_decay == 0.0             # no decay unless asked
    rng = np.random.default_rng(2)
    steps = [[rng.standard_normal((3, 2))] for _ in range(4)]
    straight, resumed = [np.ones((3, 2))], [np.ones((3, 2))]
    one = SGD(lr=0.01, momentum=0.9)
    for grads in steps:
        one.step(straight, grads)
    two = SGD(lr=0.01, momentum=0.9)
    for grads in steps[:2]:
        two.step(resumed, grads)
    later = SGD(lr=0.5, momentum=0.9)
    later.load_state_dict(*two.state_dict())
    assert later.lr == 0.01
    for grads in steps[2:]:
        later.step(resumed, grads)
    np.testing.assert_array_equal(resumed[0], straight[0])


def test_a_saved_state_of_the_wrong_shape_is_refused_on_the_next_step():
    opt = SGD(lr=0.1, momentum=0.9)
    opt.load_state_dict({"velocity": [np.zeros((2, 2))]}, {"lr": 0.1})
    message = r"^optimizer state velocity has shape \(2, 2\), its parameter \(3,\)$"
    with pytest.raises(ValueError, match=message):
        opt.step([np.ones(3)], [np.ones(3)])


# --- the plan of pieces (foreach.py) ------------------------------------------------------------


def _plan(sizes, decay, size, dtype=np.float64):
    from digitnet.foreach import Pieces

    params = [np.zeros(n, dtype) for n in sizes]
    return Pieces(params, [np.zeros_like(p) for p in params], decay, size=size)


def _layout(plan):
    """Each piece as (decay, [(array, first, last), ...])."""
    return [(piece.decay, list(piece.segments)) for piece in plan]


def test_small_arrays_of_one_setting_share_a_piece_and_no_piece_mixes_settings():
    """A network's W1, b1, W2, b2 with decay on the weights only: two pieces (weights, biases),
    not four; a piece may be filled exactly, never overfilled, also after a full one."""
    plan = _plan([6, 2, 3, 1], [True, False, True, False], size=10)
    assert _layout(plan) == [(True, [(0, 0, 6), (2, 0, 3)]), (False, [(1, 0, 2), (3, 0, 1)])]
    assert plan.size == 12 and plan.zeros().shape == (12,)
    assert _layout(_plan([4, 6], [True, True], size=10)) == [(True, [(0, 0, 4), (1, 0, 6)])]
    assert _layout(_plan([6, 6], [True, True], size=10)) == [(True, [(0, 0, 6)]), (True, [(1, 0, 6)])]
    assert _layout(_plan([10, 3, 3], [True] * 3, size=10)) == [(True, [(0, 0, 10)]),
                                                                 (True, [(1, 0, 3), (2, 0, 3)])]
    assert _layout(_plan([25], [False], size=10)) == [(False, [(0, 0, 10)]), (False, [(0, 10, 20)]),
                                                      (False, [(0, 20, 25)])]


def test_state_vectors_are_in_the_parameters_precision_and_split_back_per_array():
    plan = _plan([6, 2, 3], [True, False, True], size=4, dtype=np.float32)
    assert plan.zeros().dtype == np.float32 and all(piece.scratch[0].dtype == np.float32 for piece in plan)
    flat = np.arange(plan.size, dtype=np.float32)
    parts = plan.split(flat)
    # Decayed arrays first in the flat order, each in the given order: 0 and 2, then 1.
    assert [p.tolist() for p in parts] == [[0, 1, 2, 3, 4, 5], [9, 10], [6, 7, 8]]
    assert all(np.shares_memory(p, flat) for p in parts)


def test_arrays_that_are_not_contiguous_are_refused():
    from digitnet.foreach import Pieces

    grid = np.zeros((4, 4))
    with pytest.raises(ValueError, match=r"^optimizer parameters and gradients must be C-contiguous arrays$"):
        Pieces([grid[:, ::2]], [np.zeros((4, 2))], [True])
