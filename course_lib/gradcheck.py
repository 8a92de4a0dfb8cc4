"""Numerical gradient checking, CS231n style.

The analytic gradient of a backward function is compared with central differences
``(f(x + h) - f(x - h)) / 2h`` of the forward function, element by element.
"""

import numpy as np

__all__ = ["GradcheckError", "gradcheck", "numerical_gradient", "rel_error"]


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


def numerical_gradient(f, x, dout=None, h=1e-5):
    """Central-difference gradient of ``sum(f(x) * dout)`` with respect to the array ``x``.

    ``x`` is perturbed in place, one element at a time, and every element is restored exactly.

    Args:
        f: function of ``x`` returning an array (or a scalar when ``dout`` is None).
        x: float array, perturbed in place.
        dout: upstream gradient with the shape of ``f(x)``; None if ``f`` returns a scalar.
        h: step size.

    Returns:
        Array of the shape of ``x``: d sum(f(x) * dout) / dx.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"x must be a float numpy array (it is perturbed in place), got {type(x).__name__}")
    if not x.flags.writeable:
        raise ValueError("x must be writeable: numerical_gradient perturbs it in place")

    def objective():
        out = np.array(f(x), dtype=np.float64)  # a copy: f may return a view of x
        if dout is None:
            if out.ndim != 0 and out.size != 1:
                raise ValueError(f"f returned shape {out.shape}; pass dout, or make f return a scalar")
            return float(out.reshape(()))
        if out.shape != np.shape(dout):
            raise ValueError(f"dout has shape {np.shape(dout)} but f(x) has shape {out.shape}")
        return float(np.sum(out * dout))

    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        old = x[idx].copy()
        x[idx] = old + h
        plus = objective()
        x[idx] = old - h
        minus = objective()
        x[idx] = old  # exact restore
        grad[idx] = (plus - minus) / (2 * h)
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
        numeric = numerical_gradient(lambda _: f(**inputs), x, dout, h)
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
