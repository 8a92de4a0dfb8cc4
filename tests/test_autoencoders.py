"""course_lib.reference.autoencoders against torch, against Chapter 2's conv2d_backward, numerical gradients and
a Monte-Carlo KL; the Chapter 17 checks catch plausible mistakes with a useful message."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.gradcheck import rel_error
from course_lib.reference import autoencoders as ae
from course_lib.reference import conv
from course_lib.testing import EXERCISES, CheckFailure, ForbiddenError, check, run_exercise


@st.composite
def transpose_cases(draw):
    """(x, weight (C, F, KH, KW), bias, stride, padding, output_padding), all pairs."""
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, (kh - 1) // 2)), draw(st.integers(0, (kw - 1) // 2))
    oph, opw = draw(st.integers(0, sh - 1)), draw(st.integers(0, sw - 1))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bias = rng.standard_normal(f) if draw(st.booleans()) else None
    return (rng.standard_normal((n, c, h, w)), rng.standard_normal((c, f, kh, kw)), bias, (sh, sw), (ph, pw),
            (oph, opw))


@settings(max_examples=30, deadline=None)
@given(case=transpose_cases())
def test_conv_transpose2d_matches_torch(case):
    x, w, b, stride, padding, output_padding = case
    expected = F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), None if b is None else torch.from_numpy(b),
                                  stride, padding, output_padding).numpy()
    got = ae.conv_transpose2d(x, w, b, stride, padding, output_padding)
    assert got.shape == expected.shape
    assert got.shape[2:] == tuple(ae.conv_transpose_output_size(n, k, s, p, op) for n, k, s, p, op in zip(
        x.shape[2:], w.shape[2:], stride, padding, output_padding, strict=True))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), f=st.integers(1, 3), k=st.integers(1, 4), s=st.integers(1, 3),
       p=st.integers(0, 1), extra=st.integers(0, 5), seed=st.integers(0, 2**32 - 1))
def test_conv_transpose2d_is_conv2d_backward_dx(n, c, f, k, s, p, extra, seed):
    """The transposed convolution is the adjoint of conv2d: it equals conv2d_backward's dx."""
    rng = np.random.default_rng(seed)
    h = max(1, k - 2 * p) + extra
    x, w = rng.standard_normal((n, c, h, h + 1)), rng.standard_normal((f, c, k, k))
    y = conv.conv2d(x, w, stride=s, padding=p)
    dout = rng.standard_normal(y.shape)
    dx, _, _ = conv.conv2d_backward(dout, x, w, stride=s, padding=p)
    op = tuple((m + 2 * p - k) % s for m in x.shape[2:])
    got = ae.conv_transpose2d(dout, w, stride=s, padding=p, output_padding=op)
    np.testing.assert_allclose(got, dx, rtol=1e-10, atol=1e-10)
    assert np.isclose(np.sum(y * dout), np.sum(x * got))  # <A x, y> = <x, A^T y>


def test_conv_transpose_output_size_and_errors():
    assert ae.conv_transpose_output_size(4, 3, 2, 1, 1) == 8
    assert ae.conv_transpose_output_size(7, 4, 2, 1) == 14
    with pytest.raises(ValueError, match="output_padding"):
        ae.conv_transpose_output_size(4, 3, 2, 0, 2)
    with pytest.raises(ValueError, match="padding is too large"):
        ae.conv_transpose_output_size(1, 1, 1, 1)
    with pytest.raises(ValueError, match="in_size"):
        ae.conv_transpose_output_size(0, 3)
    x = np.zeros((1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\(C, F, KH, KW\) with C = 3"):
        ae.conv_transpose2d(x, np.zeros((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="bias"):
        ae.conv_transpose2d(x, np.zeros((3, 2, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="N, C, H, W"):
        ae.conv_transpose2d(np.zeros((3, 4, 4)), np.zeros((3, 2, 3, 3)))


@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 3), s=st.one_of(st.none(), st.integers(1, 3)), data=st.data(),
       seed=st.integers(0, 2**32 - 1), ties=st.booleans())
def test_pool_with_indices_and_unpool_match_torch(k, s, data, seed, ties):
    p = data.draw(st.integers(0, k // 2))
    h, w = data.draw(st.integers(max(1, k - 2 * p), 9)), data.draw(st.integers(max(1, k - 2 * p), 9))
    x = np.random.default_rng(seed).standard_normal((2, 2, h, w))
    x = np.round(x) if ties else x
    out, idx = ae.max_pool2d_with_indices(x, k, s, p)
    t_out, t_idx = F.max_pool2d(torch.from_numpy(x), k, s, p, return_indices=True)
    np.testing.assert_array_equal(out, t_out.numpy())
    np.testing.assert_array_equal(idx, t_idx.numpy())
    un = ae.max_unpool2d(out, idx, k, s, p, output_size=(h, w))
    np.testing.assert_array_equal(un, F.max_unpool2d(t_out, t_idx, k, s, p, output_size=(h, w)).numpy())
    assert set(np.flatnonzero(un.reshape(2, 2, -1)[0, 0])) <= set(idx[0, 0].ravel())


def test_unpool_default_size_and_errors():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, idx = ae.max_pool2d_with_indices(x, 2)
    np.testing.assert_array_equal(out[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(idx[0, 0], [[5, 7], [13, 15]])
    un = ae.max_unpool2d(out, idx, 2)
    np.testing.assert_array_equal(un, np.where(np.isin(x, [5, 7, 13, 15]), x, 0))
    with pytest.raises(ValueError, match="shape of x"):
        ae.max_unpool2d(out, idx[..., :1], 2)
    with pytest.raises(ValueError, match="strictly between"):
        ae.max_unpool2d(out, idx, 2, output_size=(6, 4))
    with pytest.raises(ValueError, match="indices must be in"):
        ae.max_unpool2d(out, idx + 20, 2)
    with pytest.raises(ValueError, match="padding"):
        ae.max_pool2d_with_indices(x, 2, 2, 2)


def test_vae_pieces_match_torch_and_monte_carlo():
    rng = np.random.default_rng(0)
    mu, logvar = rng.standard_normal((4, 3)), 0.5 * rng.standard_normal((4, 3))
    q = torch.distributions.Normal(torch.from_numpy(mu), torch.from_numpy(np.exp(0.5 * logvar)))
    p = torch.distributions.Normal(0.0, 1.0)
    expected = torch.distributions.kl_divergence(q, p).sum(1).numpy()
    np.testing.assert_allclose(ae.vae_kl_divergence(mu, logvar, "none"), expected, rtol=1e-12)
    assert np.isclose(ae.vae_kl_divergence(mu, logvar, "sum"), expected.sum())
    eps = rng.standard_normal((200_000, 4, 3))
    z = ae.vae_reparameterize(np.broadcast_to(mu, eps.shape), np.broadcast_to(logvar, eps.shape), eps)
    log_q = q.log_prob(torch.from_numpy(z)).sum(-1).numpy()
    log_p = p.log_prob(torch.from_numpy(z)).sum(-1).numpy()
    mc = (log_q - log_p).mean(0)
    np.testing.assert_allclose(mc, expected, atol=5 * (log_q - log_p).std(0).max() / np.sqrt(len(eps)))
    logits, x = 5 * rng.standard_normal((4, 1, 3, 3)), rng.random((4, 1, 3, 3))
    loss, recon, kl = ae.vae_loss(logits, x, mu, logvar, beta=0.5)
    t_loss, t_recon, t_kl = ae.vae_loss_torch(*(torch.from_numpy(a) for a in (logits, x, mu, logvar)), beta=0.5)
    np.testing.assert_allclose([loss, recon, kl], [t_loss.item(), t_recon.item(), t_kl.item()], rtol=1e-12)
    big = ae.vae_loss(np.array([[800.0, -800.0]]), np.array([[0.0, 1.0]]), mu[:1], logvar[:1])
    assert np.isfinite(big[0]) and np.isclose(big[1], 1600.0)


def test_vae_loss_gradient_wrt_logits_is_sigmoid_minus_x():
    """Numerical gradient of the numpy loss vs the analytic one (and torch autograd)."""
    rng = np.random.default_rng(1)
    logits, x = rng.standard_normal((3, 5)), rng.random((3, 5))
    mu, logvar = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    h, num = 1e-6, np.zeros_like(logits)
    for i in np.ndindex(logits.shape):
        d = np.zeros_like(logits)
        d[i] = h
        num[i] = (ae.vae_loss(logits + d, x, mu, logvar)[0] - ae.vae_loss(logits - d, x, mu, logvar)[0]) / (2 * h)
    analytic = (1 / (1 + np.exp(-logits)) - x) / len(x)
    assert rel_error(num, analytic) < 1e-7
    lt = torch.from_numpy(logits).requires_grad_()
    ae.vae_loss_torch(lt, *(torch.from_numpy(a) for a in (x, mu, logvar)))[0].backward()
    assert rel_error(lt.grad.numpy(), analytic) < 1e-10
    with pytest.raises(ValueError, match="same shape"):
        ae.vae_loss(logits, x[:, :2], mu, logvar)
    with pytest.raises(ValueError, match="reduction"):
        ae.vae_kl_divergence(mu, logvar, "max")
    with pytest.raises(ValueError, match="same shape"):
        ae.vae_reparameterize(mu, logvar, np.zeros((3, 3)))


def test_models_shapes_and_a_short_training_run():
    torch.manual_seed(0)
    x = np.random.default_rng(0).random((40, 1, 8, 8)).astype(np.float32)
    model = ae.ConvAutoencoder(code_dim=4)
    assert model(torch.from_numpy(x)).shape == (40, 1, 8, 8)
    assert model.encode(torch.from_numpy(x)).shape == (40, 4)
    losses = ae.train_autoencoder(model, x, epochs=3, batch_size=20, progress=False, noise_std=0.2)
    assert len(losses) == 3 and losses[-1] < losses[0]
    vae = ae.ConvVAE(latent_dim=2)
    logits, mu, logvar = vae(torch.from_numpy(x))
    assert logits.shape == (40, 1, 8, 8) and mu.shape == logvar.shape == (40, 2)
    vae_losses = ae.train_autoencoder(vae, x, epochs=3, batch_size=20, progress=False)
    assert vae_losses[-1] < vae_losses[0] and not vae.training
    m1, _ = vae.encode(torch.from_numpy(x))
    torch.testing.assert_close(vae(torch.from_numpy(x))[1], m1)  # eval mode decodes the mean


# --------------------------------------------------------------------------- the checks catch mistakes

def _check(name, fn):
    """The visible checks with nothing switched off (so a mistake may be built on the reference)."""
    run_exercise(dataclasses.replace(EXERCISES[name], forbid=()), fn, quiet=True)


def test_checks_refuse_the_reference_and_torch():
    with pytest.raises(ForbiddenError):
        check("conv_transpose2d", ae.conv_transpose2d)

    def via_torch(x, weight, bias=None, stride=1, padding=0, output_padding=0):
        b = None if bias is None else torch.from_numpy(bias)
        return F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(weight), b, stride, padding,
                                  output_padding).numpy()

    with pytest.raises(ForbiddenError, match="torch"):
        check("conv_transpose2d", via_torch)


def test_wrong_answers_get_helpful_messages():
    def no_crop(x, weight, bias=None, stride=1, padding=0, output_padding=0):
        return ae.conv_transpose2d(x, weight, bias, stride, 0, output_padding)

    with pytest.raises(CheckFailure, match=r"has shape .* expected .*H_out = \(H − 1\)"):
        _check("conv_transpose2d", no_crop)

    def conv_weight_layout(x, weight, bias=None, stride=1, padding=0, output_padding=0):
        return ae.conv_transpose2d(x, weight.transpose(1, 0, 2, 3), bias, stride, padding, output_padding)

    with pytest.raises(CheckFailure):
        _check("conv_transpose2d", conv_weight_layout)

    def sigma_is_exp_logvar(mu, logvar, eps):
        return mu + np.exp(logvar) * eps

    with pytest.raises(CheckFailure, match="values are wrong"):
        check("vae_reparameterize", sigma_is_exp_logvar)

    def kl_plus_sign(mu, logvar, reduction="mean"):
        kl = 0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=1)
        return kl if reduction == "none" else float(kl.mean() if reduction == "mean" else kl.sum())

    with pytest.raises(CheckFailure, match="expected 2.5"):
        check("vae_kl_divergence", kl_plus_sign)

    def naive_bce(logits, x, mu, logvar, beta=1.0):
        p = 1 / (1 + np.exp(-logits))
        recon = float(np.mean(np.sum(-(x * np.log(p) + (1 - x) * np.log(1 - p)), axis=tuple(range(1, x.ndim)))))
        kl = -0.5 * np.mean(np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=1))
        return recon + beta * kl, recon, float(kl)

    with np.errstate(all="ignore"), pytest.raises(CheckFailure, match="200"):
        check("vae_loss", naive_bce)

    def unpool_transposed(x, indices, kernel_size, stride=None, padding=0, output_size=None):
        return ae.max_unpool2d(x, indices, kernel_size, stride, padding, output_size).transpose(0, 1, 3, 2)

    with pytest.raises(CheckFailure, match="values are wrong|has shape"):
        _check("max_unpool2d", unpool_transposed)

    def indices_in_padded_plane(x, kernel_size, stride=None, padding=0):
        out, idx = ae.max_pool2d_with_indices(x, kernel_size, stride, padding)
        p = padding if isinstance(padding, int) else padding[0]
        return out, idx + p * (x.shape[-1] + 2 * p) + p * (idx // x.shape[-1]) * 2 + p

    with pytest.raises(CheckFailure, match="indices of .*padding 1"):
        _check("max_pool2d_with_indices", indices_in_padded_plane)
