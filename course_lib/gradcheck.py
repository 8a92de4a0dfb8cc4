"""Numerical gradient checking, CS231n style.

The analytic gradient of a backward function is compared with central differences
``(f(x + h) - f(x - h)) / 2h`` of the forward function, element by element.
"""

import numpy as np

__all__ = ["GradcheckError", "gradcheck", "rel_error"]


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with the numerical one."""


def _elementwise_rel_error(x, y):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error needs equal shapes, got {x.shape} and {y.shape}")
    return np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))


def rel_error(x, y):
    """Largest element-wise relative error ``|x - y| / max(1e-8, |x| + |y|)``.

    Args:
        x, y: arrays (or scalars) of the same shape.

    Returns:
        A Python float; about 1e-7 or less means "equal" for float64 gradient checks, 0.0 for
        empty arrays.
    """
    err = _elementwise_rel_error(x, y)
    return float(err.max()) if err.size else 0.0


def _central_differences(f, x, dout, h):
    """d sum(f(x) * dout) / dx by central differences, perturbing ``x`` in place and restoring it.

    The checker's own copy: ``numerical_gradient`` is an exercise of Chapter 1, whose answer lives in
    :mod:`course_lib.reference.mlp`, and a tool never imports answers."""
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating) or not x.flags.writeable:
        raise ValueError(f"inputs must be writeable float numpy arrays (perturbed in place), got {type(x).__name__}")
    weight = 1.0 if dout is None else dout
    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        old = x[idx].copy()
        values = []
        for step in (h, -h):
            x[idx] = old + step
            values.append(float(np.sum(np.array(f(x), dtype=np.float64) * weight)))
        x[idx] = old  # exact restore
        grad[idx] = (values[0] - values[1]) / (2 * h)
    return grad


def gradcheck(f, inputs, analytic, dout, h=1e-5, tol=1e-7, raise_on_fail=True):
    """Compare analytic gradients with numerical ones.

    Args:
        f: forward function, called as ``f(**inputs)``.
        inputs: dict name -> float array (perturbed in place, restored exactly).
        analytic: dict name -> analytic gradient of ``sum(f(**inputs) * dout)`` for some inputs.
        dout: upstream gradient of the shape of ``f(**inputs)``, or None if ``f`` returns a scalar.
        h: finite-difference step.
        tol: largest acceptable relative error.
        raise_on_fail: raise :class:`GradcheckError` if any error exceeds ``tol``.

    Returns:
        Dict name -> relative error (see :func:`rel_error`).
    """
    unknown = sorted(set(analytic) - set(inputs))
    if unknown:
        raise ValueError(f"analytic has gradients for {unknown}, which are not in inputs {sorted(inputs)}")
    errors, failures = {}, []
    for name, grad in analytic.items():
        x = inputs[name]
        grad = np.asarray(grad)
        if grad.shape != np.shape(x):
            raise ValueError(f"analytic gradient for {name!r} has shape {grad.shape}, input has {np.shape(x)}")
        numeric = _central_differences(lambda _: f(**inputs), x, dout, h)
        errors[name] = rel_error(numeric, grad)
        if errors[name] > tol:
            elementwise = _elementwise_rel_error(numeric, grad)
            worst = np.unravel_index(np.argmax(elementwise), elementwise.shape)
            failures.append(
                f"{name}: relative error {errors[name]:.3e} > tol {tol:.1e}; worst at index "
                f"{tuple(int(i) for i in worst)}: numeric {numeric[worst]:.10g} vs analytic {grad[worst]:.10g}"
            )
    if failures and raise_on_fail:
        raise GradcheckError("gradcheck failed for\n  " + "\n  ".join(failures))
    return errors
