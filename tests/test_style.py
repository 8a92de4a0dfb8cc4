"""course_lib.reference.style: the losses on numpy and torch, their gradients, the extractors, the optimisation,
the checks."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.reference import style
from course_lib.testing import CheckFailure, check, hidden_check
from tests._copies import reference_copy

HELPERS = [(style, h) for h in ("_check4", "gram_matrix", "content_loss", "style_layer_loss", "style_loss",
                                "tv_loss")]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 6), h=st.integers(1, 7), w=st.integers(1, 7),
       seed=st.integers(0, 2**31 - 1))
def test_losses_agree_on_numpy_and_torch_and_with_einsum(n, c, h, w, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, c, h, w)), rng.random((n, c, h, w))
    g = style.gram_matrix(x)
    np.testing.assert_allclose(g, np.einsum("nchw,ndhw->ncd", x, x) / (h * w), rtol=1e-12)
    tx = torch.from_numpy(x)
    np.testing.assert_allclose(style.gram_matrix(tx).numpy(), g, rtol=1e-12)
    for fn, args in [(style.content_loss, (x, y)), (style.tv_loss, (x,)),
                     (style.style_layer_loss, (g, style.gram_matrix(y)))]:
        t_args = tuple(torch.from_numpy(a) for a in args)
        assert float(fn(*t_args)) == pytest.approx(float(fn(*args)), rel=1e-12)


def test_style_layer_loss_is_gatys_e_l():
    rng = np.random.default_rng(0)
    fx, fa = rng.random((1, 5, 4, 6)), rng.random((1, 5, 4, 6))
    raw = [f.reshape(5, 24) @ f.reshape(5, 24).T for f in (fx, fa)]
    paper = ((raw[0] - raw[1]) ** 2).sum() / (4 * 5**2 * 24**2)
    assert style.style_layer_loss(style.gram_matrix(fx), style.gram_matrix(fa)) == pytest.approx(paper, rel=1e-12)


def test_gradients_of_the_objective_match_finite_differences():
    """Autograd through the array-agnostic losses, checked numerically (float64)."""
    rng = np.random.default_rng(1)
    image = torch.tensor(rng.random((1, 2, 4, 4)), requires_grad=True)
    target, gram_target = torch.tensor(rng.random((1, 2, 4, 4))), torch.tensor(rng.random((1, 2, 2)))

    def objective(img):
        feats = {"a": img * 2.0, "b": img ** 2}
        return style.transfer_objective(feats, target, {"b": gram_target}, img, "a", {"b": 0.7},
                                        alpha=0.3, beta=2.0, gamma=0.5)
    assert torch.autograd.gradcheck(objective, (image,), eps=1e-6, atol=1e-7)


def test_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"4-d \(N, C, H, W\), got shape \(3, 4, 5\)"):
        style.gram_matrix(np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match="differ in shape"):
        style.content_loss(np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 2, 2)))
    with pytest.raises(ValueError, match="equally long"):
        style.style_loss([np.zeros((1, 2, 2, 2))], [], [1.0])
    with pytest.raises(ValueError, match="layers missing"):
        style.transfer_objective({}, None, {}, None, "relu4_1", {})


def test_vgg19_layout_loads_local_weights_and_never_downloads(tmp_path, monkeypatch):
    meta = style.vgg19_features("meta")
    assert sum(p.numel() for p in meta.parameters()) == 20_024_384
    assert meta.names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"] and len(meta.names) == 37
    monkeypatch.delenv(style.VGG19_WEIGHTS_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="COURSE_VGG19_WEIGHTS"):
        style.vgg19_features()
    assert style.feature_extractor().kind == "random-filter"
    # a state dict with torchvision's keys (features.N.weight / .bias; the classifier is ignored)
    state = {f"features.{i}.{k}": torch.full(p.shape, 0.01 * (i + 1), dtype=torch.float16)
             for i, m in enumerate(meta.body) if isinstance(m, torch.nn.Conv2d) for k, p in m.named_parameters()}
    state["classifier.0.weight"] = torch.zeros(2, 2)
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    monkeypatch.setenv(style.VGG19_WEIGHTS_ENV, str(path))
    vgg = style.feature_extractor()
    assert vgg.kind == "VGG-19" and float(vgg.body[2].weight[0, 0, 0, 0]) == pytest.approx(0.03, rel=1e-3)
    out = vgg(torch.rand(1, 3, 32, 32), ["relu1_1", "relu3_1"])
    assert out["relu1_1"].shape == (1, 64, 32, 32) and out["relu3_1"].shape == (1, 256, 8, 8)
    with pytest.raises(FileNotFoundError, match="not found"):
        style.vgg19_features(tmp_path / "missing.pth")


def test_random_extractor_is_frozen_and_deterministic():
    a, b = style.random_features(seed=3), style.random_features(seed=3)
    x = torch.rand(1, 3, 16, 16)
    fa, fb = a(x, a.layers), b(x, b.layers)
    assert list(fa) == ["pixels", "relu1_1", "relu2_1", "relu3_1", "relu4_1"]
    assert all(torch.equal(fa[k], fb[k]) for k in fa) and not any(p.requires_grad for p in a.parameters())
    with pytest.raises(ValueError, match="unknown layers"):
        a(x, ["relu5_1"])


def test_transfer_lowers_the_style_loss_and_calls_the_given_objective():
    torch.manual_seed(0)
    extractor = style.random_features(widths=(8, 16))
    content, style_img = style.style_image("china", 24), style.style_image("swirls", 24)
    assert content.shape == (1, 3, 24, 24) and 0 <= float(content.min()) and float(content.max()) <= 1
    calls = []

    def objective(*args):
        calls.append(1)
        return style.transfer_objective(*args)
    image, history = style.transfer(content, style_img, extractor, "relu2_1", {"pixels": 1.0, "relu1_1": 1.0},
                                    steps=25, objective=objective, progress=False)
    assert len(calls) == 25 and image.shape == content.shape
    assert history["style"][-1] < 0.2 * history["style"][0] and history["content"][0] == 0
    assert float(image.min()) >= 0 and float(image.max()) <= 1


@pytest.mark.parametrize("name", ["gram_matrix", "content_loss", "style_layer_loss", "style_loss", "tv_loss",
                                  "transfer_objective"])
def test_reference_copies_pass_their_checks(name):
    fn = reference_copy(style, name, HELPERS)
    check(name, fn)
    hidden_check(name, fn, seed=5)


@pytest.mark.parametrize("name, mutate, message", [
    ("gram_matrix", ("/ (h * w)", "/ (c * h * w)"), r"/ \(H·W\)"),
    ("content_loss", ("0.5 * ((features - target) ** 2).sum()", "((features - target) ** 2).mean()"), "½ Σ"),
    ("style_layer_loss", ("(4 * c * c)", "(4 * c)"), "4·C²"),
    ("tv_loss", ("((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2).sum()", "0"), "horizontal"),
])
def test_checks_catch_mistakes(name, mutate, message):
    with pytest.raises(CheckFailure, match=message):
        check(name, reference_copy(style, name, HELPERS, mutate))


def test_torch_calls_are_switched_off_in_the_checks():
    def gram_matrix(x):
        t = torch.from_numpy(x)
        return (t.flatten(2) @ t.flatten(2).transpose(1, 2)).numpy()
    with pytest.raises(CheckFailure, match="torch"):
        check("gram_matrix", gram_matrix)
