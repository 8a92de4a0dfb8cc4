"""Autoencoders and VAEs (Chapter 17): upsampling layers in numpy, small torch models, a training loop.

Numpy references (signatures of ``torch.nn.functional``): :func:`conv_transpose2d`,
:func:`max_pool2d_with_indices`, :func:`max_unpool2d`, and the VAE pieces :func:`vae_reparameterize`,
:func:`vae_kl_divergence`, :func:`vae_loss` (Bernoulli likelihood: binary cross-entropy on logits).
Torch: :class:`ConvAutoencoder`, :class:`ConvVAE`, :func:`vae_loss_torch`, :func:`train_autoencoder`.

Shape glossary: N batch, C input channels, F output channels, H/W height/width, KH/KW kernel,
SH/SW stride, PH/PW padding, OPH/OPW output padding, D latent dimensions.
"""

from __future__ import annotations

import numpy as np

from course_lib.reference._utils import as_float, check_int, check_nchw, pair

__all__ = [
    "ConvAutoencoder",
    "ConvVAE",
    "conv_transpose2d",
    "conv_transpose_output_size",
    "max_pool2d_with_indices",
    "max_unpool2d",
    "train_autoencoder",
    "vae_kl_divergence",
    "vae_loss",
    "vae_loss_torch",
    "vae_reparameterize",
]


# --------------------------------------------------------------------------- transposed convolution

def conv_transpose_output_size(in_size, kernel_size, stride=1, padding=0, output_padding=0):
    """Output length of a transposed convolution along one axis (as ``nn.ConvTranspose2d``).

    ``(in_size - 1) * stride - 2 * padding + kernel_size + output_padding``: the input length of the
    convolution (same kernel, stride, padding) whose output has length ``in_size``; ``output_padding``
    picks one of the ``stride`` input lengths that all give that output length.

    Raises:
        ValueError: for in_size/kernel_size/stride < 1, padding/output_padding < 0,
            ``output_padding >= stride`` (torch's rule) or a result < 1.
    """
    n, k, s = check_int(in_size, "in_size"), check_int(kernel_size, "kernel_size"), check_int(stride, "stride")
    p, op = check_int(padding, "padding"), check_int(output_padding, "output_padding")
    if min(n, k, s) < 1:
        raise ValueError(f"in_size, kernel_size and stride must be >= 1, got {n}, {k}, {s}")
    if min(p, op) < 0:
        raise ValueError(f"padding and output_padding must be >= 0, got {p}, {op}")
    if op >= s:
        raise ValueError(f"output_padding ({op}) must be smaller than stride ({s})")
    out = (n - 1) * s - 2 * p + k + op
    if out < 1:
        raise ValueError(f"output size (in_size - 1)·stride - 2·padding + kernel_size + output_padding = "
                         f"({n} - 1)·{s} - 2·{p} + {k} + {op} = {out} is < 1: padding is too large")
    return out


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """2-D transposed convolution, same semantics as ``torch.nn.functional.conv_transpose2d`` (groups=1).

    Every input pixel x[n, c, i, j] stamps ``x[n, c, i, j] * weight[c]`` (an (F, KH, KW) patch) onto
    the output at (i·SH, j·SW); overlaps add up; then PH/PW rows/columns are cropped from each side.
    It equals ``conv2d_backward``'s dx: the transpose (adjoint) of ``conv2d`` with the same weight.

    Args:
        x: input of shape (N, C, H, W).
        weight: shape (C, F, KH, KW) — input channels first, as in ``nn.ConvTranspose2d``.
        bias: (F,) or None.
        stride, padding, output_padding: int or pair; ``output_padding < stride``.

    Returns:
        Array of shape (N, F, H_out, W_out), H_out = (H - 1)·SH - 2·PH + KH + OPH.
    """
    check_nchw(x, "x")
    if not isinstance(weight, np.ndarray) or weight.ndim != 4 or weight.shape[0] != x.shape[1]:
        seen = weight.shape if isinstance(weight, np.ndarray) else type(weight).__name__
        raise ValueError(f"weight must have shape (C, F, KH, KW) with C = {x.shape[1]} (x shape {x.shape}), "
                         f"got {seen}")
    c, f, kh, kw = weight.shape
    if bias is not None and (not isinstance(bias, np.ndarray) or bias.shape != (f,)):
        raise ValueError(f"bias must have shape (F,) = ({f},), got {getattr(bias, 'shape', bias)!r}")
    (sh, sw), (ph, pw) = pair(stride, "stride"), pair(padding, "padding")
    oph, opw = pair(output_padding, "output_padding")
    n, _, h, w = x.shape
    h_out = conv_transpose_output_size(h, kh, sh, ph, oph)
    w_out = conv_transpose_output_size(w, kw, sw, pw, opw)
    dtype = np.result_type(x, weight)
    full = np.zeros((n, f, (h - 1) * sh + kh + oph, (w - 1) * sw + kw + opw), dtype=dtype)  # before cropping
    for i in range(kh):
        for j in range(kw):
            stamp = np.einsum("nchw,cf->nfhw", x, weight[:, :, i, j])  # (N, F, H, W)
            full[:, :, i : i + sh * h : sh, j : j + sw * w : sw] += stamp
    out = full[:, :, ph : ph + h_out, pw : pw + w_out]  # (N, F, H_out, W_out)
    if bias is not None:
        out = out + bias.reshape(1, f, 1, 1)
    return np.ascontiguousarray(out, dtype=dtype)


# --------------------------------------------------------------------------- pooling with indices, unpooling

def max_pool2d_with_indices(x, kernel_size, stride=None, padding=0):
    """Max pooling that also returns where each maximum was, like ``F.max_pool2d(..., return_indices=True)``.

    Returns:
        ``(out, indices)``, both (N, C, H_out, W_out); ``indices`` (int64) are flat positions
        ``row * W + col`` in the un-padded (H, W) plane of the same (n, c); ties: the first maximum in
        row-major window order.
    """
    check_nchw(x, "x")
    kh, kw = pair(kernel_size, "kernel_size")
    sh, sw = pair(kernel_size if stride is None else stride, "stride")
    ph, pw = pair(padding, "padding")
    n, c, h, w = x.shape
    if ph > kh // 2 or pw > kw // 2 or min(ph, pw) < 0:
        raise ValueError(f"padding must be in 0..kernel_size // 2, got {(ph, pw)} for kernel {(kh, kw)}")
    h_out, w_out = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    if h_out < 1 or w_out < 1:
        raise ValueError(f"kernel {(kh, kw)} does not fit the padded input {(h + 2 * ph, w + 2 * pw)}")
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), -np.inf)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    out = np.empty((n, c, h_out, w_out), dtype=x.dtype)
    indices = np.empty((n, c, h_out, w_out), dtype=np.int64)
    for i in range(h_out):
        for j in range(w_out):
            win = xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw].reshape(n, c, -1)  # (N, C, KH*KW)
            arg = win.argmax(axis=-1)  # (N, C)
            out[:, :, i, j] = np.take_along_axis(win, arg[..., None], -1)[..., 0]
            indices[:, :, i, j] = (i * sh + arg // kw - ph) * w + (j * sw + arg % kw - pw)
    return out, indices


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max pooling, same semantics as ``torch.nn.functional.max_unpool2d``.

    Puts every value of ``x`` back at the position its ``indices`` entry names; everything else is 0.

    Args:
        x: pooled values (N, C, H, W).
        indices: int array of the same shape, flat positions ``row * W_out + col`` in the output plane.
        kernel_size, stride, padding: the pooling's (int or pair; stride defaults to kernel_size).
        output_size: (H_out, W_out) (or a longer shape ending in them); default
            ``(H - 1)·SH - 2·PH + KH`` — needed when the pooled input's size was not a multiple.

    Returns:
        Array of shape (N, C, H_out, W_out), dtype of ``x``.
    """
    check_nchw(x, "x")
    if not isinstance(indices, np.ndarray) or indices.shape != x.shape or indices.dtype.kind not in "iu":
        raise ValueError(f"indices must be an int array of the shape of x {x.shape}, "
                         f"got {getattr(indices, 'dtype', type(indices).__name__)} {getattr(indices, 'shape', '')}")
    (kh, kw), (ph, pw) = pair(kernel_size, "kernel_size"), pair(padding, "padding")
    sh, sw = pair(kernel_size if stride is None else stride, "stride")
    n, c, h, w = x.shape
    h_out, w_out = (h - 1) * sh - 2 * ph + kh, (w - 1) * sw - 2 * pw + kw  # the default
    if output_size is not None:
        size = tuple(output_size)
        if len(size) not in (2, 4):
            raise ValueError(f"output_size must be (H_out, W_out) or (N, C, H_out, W_out), got {output_size!r}")
        want = tuple(check_int(v, "output_size") for v in size[-2:])
        for axis, got, default, s in (("H", want[0], h_out, sh), ("W", want[1], w_out, sw)):
            if not default - s < got < default + s:  # torch's rule: within one stride of the default
                raise ValueError(f"output_size {axis}_out = {got} must be strictly between "
                                 f"{default - s} and {default + s} (default {default}, stride {s})")
        h_out, w_out = want
    if h_out < 1 or w_out < 1:
        raise ValueError(f"output size must be positive, got {(h_out, w_out)}")
    if indices.size and (indices.min() < 0 or indices.max() >= h_out * w_out):
        raise ValueError(f"indices must be in 0..{h_out * w_out - 1} for an output of {(h_out, w_out)}, "
                         f"got values from {indices.min()} to {indices.max()}")
    out = np.zeros((n, c, h_out * w_out), dtype=x.dtype)  # (N, C, H_out*W_out)
    np.put_along_axis(out, indices.reshape(n, c, -1), x.reshape(n, c, -1), axis=-1)
    return out.reshape(n, c, h_out, w_out)


# --------------------------------------------------------------------------- VAE in numpy

def vae_reparameterize(mu, logvar, eps):
    """z = mu + sigma * eps with sigma = exp(logvar / 2): a sample of N(mu, sigma²) that is a
    differentiable function of (mu, logvar); the randomness is all in eps ~ N(0, I). Shapes (N, D)."""
    mu, logvar, eps = as_float(mu, "mu"), as_float(logvar, "logvar"), as_float(eps, "eps")
    if not mu.shape == logvar.shape == eps.shape:
        raise ValueError(f"mu, logvar and eps must have the same shape, got {mu.shape}, {logvar.shape}, {eps.shape}")
    return mu + np.exp(0.5 * logvar) * eps


def vae_kl_divergence(mu, logvar, reduction="mean"):
    """KL( N(mu, diag(exp(logvar))) || N(0, I) ) in closed form, summed over the D latent dimensions.

    KL = -1/2 · Σ_d (1 + logvar_d - mu_d² - exp(logvar_d)).

    Args:
        mu, logvar: shape (N, D).
        reduction: "none" → (N,) per example; "mean" / "sum" over the batch → a float.
    """
    mu, logvar = as_float(mu, "mu"), as_float(logvar, "logvar")
    if mu.shape != logvar.shape or mu.ndim != 2:
        raise ValueError(f"mu and logvar must both have shape (N, D), got {mu.shape} and {logvar.shape}")
    kl = -0.5 * np.sum(1.0 + logvar - mu**2 - np.exp(logvar), axis=1)  # (N,)
    if reduction == "none":
        return kl
    if reduction in ("mean", "sum"):
        return float(kl.mean() if reduction == "mean" else kl.sum())
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def vae_loss(logits, x, mu, logvar, beta=1.0):
    """Negative ELBO with a Bernoulli decoder, averaged over the batch.

    recon = Σ_pixels BCE(sigmoid(logits), x) = -log p(x | z) (stable: max(l, 0) - l·x + log(1 + e^-|l|)),
    kl = :func:`vae_kl_divergence`; loss = recon + beta · kl (beta = 1 is the ELBO).

    Args:
        logits: decoder outputs (N, ...); x: targets in [0, 1] of the same shape; mu, logvar: (N, D).

    Returns:
        ``(loss, recon, kl)`` as floats, each the mean over the N examples.
    """
    logits, x = as_float(logits, "logits"), as_float(x, "x")
    if logits.shape != x.shape:
        raise ValueError(f"logits and x must have the same shape, got {logits.shape} and {x.shape}")
    if len(mu) != len(x):
        raise ValueError(f"mu has {len(mu)} examples but x has {len(x)}")
    bce = np.maximum(logits, 0) - logits * x + np.log1p(np.exp(-np.abs(logits)))  # (N, ...)
    recon = float(bce.reshape(len(x), -1).sum(axis=1).mean())
    kl = vae_kl_divergence(mu, logvar, "mean")
    return recon + beta * kl, recon, kl


# --------------------------------------------------------------------------- torch models for 8x8 digits

def _torch_parts():
    import torch
    from torch import nn

    return torch, nn


def _encoder(nn, out_features):
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),  # (N, 16, 8, 8)
                         nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),  # (N, 32, 4, 4)
                         nn.Flatten(), nn.Linear(32 * 4 * 4, out_features))  # (N, out_features)


def _decoder(nn, code_dim):
    return nn.Sequential(nn.Linear(code_dim, 32 * 4 * 4), nn.ReLU(), nn.Unflatten(1, (32, 4, 4)),
                         nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # 8x8
                         nn.Conv2d(16, 1, 3, padding=1))  # (N, 1, 8, 8) logits


def ConvAutoencoder(code_dim=8):  # noqa: N802 - a factory that reads like a class
    """Conv encoder (8×8 → 4×4 by a stride-2 conv → a code of ``code_dim`` numbers) and a decoder
    that upsamples with ``ConvTranspose2d(stride=2, output_padding=1)``. ``model(x)`` returns
    logits (N, 1, 8, 8); ``model.encode(x)`` the codes (N, code_dim); ``model.decode(z)`` logits."""
    torch, nn = _torch_parts()

    class _AE(nn.Module):
        def __init__(self):
            super().__init__()
            self.code_dim = code_dim
            self.encoder, self.decoder = _encoder(nn, code_dim), _decoder(nn, code_dim)

        def encode(self, x):
            return self.encoder(x)

        def decode(self, z):
            return self.decoder(z)

        def forward(self, x):
            return self.decoder(self.encoder(x))

    return _AE()


def ConvVAE(latent_dim=2):  # noqa: N802
    """The same encoder/decoder as :func:`ConvAutoencoder`, but the encoder outputs (mu, logvar) and
    the code is sampled with the reparameterisation trick while training (the mean in eval mode).
    ``model(x)`` returns ``(logits, mu, logvar)``."""
    torch, nn = _torch_parts()

    class _VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.code_dim = latent_dim
            self.encoder, self.decoder = _encoder(nn, 2 * latent_dim), _decoder(nn, latent_dim)

        def encode(self, x):
            mu, logvar = self.encoder(x).chunk(2, dim=1)  # (N, D) each
            return mu, logvar

        def decode(self, z):
            return self.decoder(z)

        def forward(self, x):
            mu, logvar = self.encode(x)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
            return self.decoder(z), mu, logvar

    return _VAE()


def vae_loss_torch(logits, x, mu, logvar, beta=1.0):
    """:func:`vae_loss` in torch (differentiable); returns ``(loss, recon, kl)`` tensors."""
    torch, nn = _torch_parts()
    recon = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    kl = (-0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp(), dim=1)).mean()
    return recon + beta * kl, recon, kl


def train_autoencoder(model, X, *, epochs=20, batch_size=128, lr=5e-3, noise_std=0.0, beta=1.0, seed=0,
                      progress=True, desc="training"):
    """Train an autoencoder (MSE of sigmoid(logits) to the clean X) or a VAE (``vae_loss_torch``) with Adam.

    Args:
        model: a :func:`ConvAutoencoder` or :func:`ConvVAE`.
        X: images (N, 1, 8, 8) in [0, 1].
        noise_std: > 0 trains a *denoising* autoencoder: inputs get Gaussian noise (clipped to [0, 1]),
            the target stays the clean image.

    Returns:
        List of the mean training loss per epoch.
    """
    from tqdm.auto import tqdm

    torch, nn = _torch_parts()
    torch.manual_seed(seed)
    xt = torch.as_tensor(np.asarray(X, dtype=np.float32))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for _ in (bar := tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress)):
        order, total = torch.randperm(len(xt), generator=gen), 0.0
        for i in range(0, len(xt), batch_size):
            xb = xt[order[i : i + batch_size]]
            inp = (xb + noise_std * torch.randn(xb.shape, generator=gen)).clamp(0, 1) if noise_std else xb
            out = model(inp)
            if isinstance(out, tuple):
                loss = vae_loss_torch(*out[:1], xb, *out[1:], beta=beta)[0]
            else:
                loss = nn.functional.mse_loss(torch.sigmoid(out), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        losses.append(total / len(xt))
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    model.eval()
    return losses
