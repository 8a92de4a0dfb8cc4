"""The student-facing checks: they pass the references, fail wrong answers with a message that says
what is wrong, and earn nothing for calling the reference or torch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from course_lib.reference import conv, pool
from course_lib.testing import (
    EXERCISES,
    CheckFailure,
    ForbiddenError,
    check,
    compare,
    hidden_check,
    run_exercise,
)


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_reference_passes_its_own_checks(name):
    """The specs agree with the references (with nothing switched off, the reference is the answer)."""
    ex = dataclasses.replace(EXERCISES[name], forbid=())
    ref = conv.conv2d_naive if name == "conv2d_naive" else ex.reference
    assert run_exercise(ex, ref) > 0
    assert run_exercise(ex, ref, hidden=True, seed=7) > 0


def test_checks_return_none_so_nbgrader_sees_no_partial_credit():
    assert check("global_avg_pool2d", lambda x: x.mean(axis=(2, 3), keepdims=True)) is None


def test_calling_the_reference_earns_nothing():
    with pytest.raises(ForbiddenError, match="switched off"):
        check("conv2d_naive", conv.conv2d)
    with pytest.raises(ForbiddenError, match="course_lib.reference.pool"):
        check("max_pool2d", pool.max_pool2d)


def test_calling_torch_earns_nothing():
    import torch
    import torch.nn.functional as F

    def via_torch(x, weight, bias=None, stride=1, padding=0):
        b = None if bias is None else torch.from_numpy(bias)
        return F.conv2d(torch.from_numpy(x), torch.from_numpy(weight), b, stride, padding).numpy()

    with pytest.raises(ForbiddenError, match="torch"):
        check("conv2d", via_torch)

    def imports_torch_inside(x, kernel_size, stride=None, padding=0):
        import torch as t

        return t.nn.functional.max_pool2d(t.from_numpy(x), kernel_size, stride, padding).numpy()

    with pytest.raises(ForbiddenError):
        check("max_pool2d", imports_torch_inside)
    assert torch.nn.functional is F  # everything restored afterwards


def test_not_implemented_message():
    def stub(*_, **__):
        raise NotImplementedError()

    with pytest.raises(CheckFailure, match="not implemented yet"):
        check("conv2d", stub)


def test_shape_message_names_shapes_and_formula():
    def off_by_one(x, weight, bias=None, stride=1, padding=0):
        out = np.zeros((x.shape[0], weight.shape[0], x.shape[2], x.shape[3]))
        return out

    with pytest.raises(CheckFailure) as err:
        check("conv2d_naive", off_by_one)
    msg = str(err.value)
    assert "has shape (1, 1, 3, 3), expected (1, 1, 2, 2)" in msg
    assert "H_out = (H + 2·P − KH) // S + 1" in msg
    assert "x=array float64 (1, 1, 3, 3)" in msg


def test_value_message_gives_index_expected_and_got():
    def wrong_bias(x, weight, bias=None, stride=1, padding=0):
        out = conv_without_bias(x, weight, stride, padding)
        return out if bias is None else out - bias.reshape(1, -1, 1, 1)

    with pytest.raises(CheckFailure, match=r"values are wrong\. First wrong value at index \(0, 0, 0, 0\): "
                                           r"expected -?\d.*, got -?\d"):
        check("conv2d", wrong_bias)


def conv_without_bias(x, weight, stride, padding):
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = np.lib.stride_tricks.sliding_window_view(xp, weight.shape[2:], axis=(2, 3))[:, :, ::sh, ::sw]
    return np.einsum("nchwij,fcij->nfhw", win, weight)


def test_dtype_message():
    def as_int(in_size, kernel_size, stride=1, padding=0, strict=False):
        return float((in_size + 2 * padding - kernel_size) // stride + 1)

    with pytest.raises(CheckFailure, match="is the float 3.0; it should be the int 3"):
        check("conv_output_size", as_int)

    def float32_out(x, padding):
        p = (padding, padding) if isinstance(padding, int) else padding
        return np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1]))).astype(np.float32)

    with pytest.raises(CheckFailure, match="dtype float32 but the inputs were float64"):
        check("zero_pad2d", float32_out)


def test_missing_return_and_in_place_edits():
    def forgot_return(x):
        x.mean(axis=(2, 3), keepdims=True)

    with pytest.raises(CheckFailure, match="Did you forget a `return`"):
        check("global_avg_pool2d", forgot_return)

    def in_place(x):
        x -= 1
        return x.mean(axis=(2, 3), keepdims=True) + 1

    with pytest.raises(CheckFailure, match="changed its input"):
        check("global_avg_pool2d", in_place)


def test_expected_errors_must_be_raised():
    def never_raises(in_size, kernel_size, stride=1, padding=0, strict=False):
        return (in_size + 2 * padding - kernel_size) // max(stride, 1) + 1

    with pytest.raises(CheckFailure, match="should raise ValueError"):
        check("conv_output_size", never_raises)


def test_slow_conv2d_fails_the_speed_check():
    def loops(x, weight, bias=None, stride=1, padding=0):
        out = conv_without_bias(x, weight, stride, padding)
        out = out + (0 if bias is None else bias.reshape(1, -1, 1, 1))
        for _ in range(out.size):  # as slow as the naive version would be
            np.sum(weight[0] * weight[0])
        return out

    with pytest.raises(CheckFailure, match="at least 5× faster"):
        hidden_check("conv2d", loops, seed=1)


def test_compare_tuples_none_and_torch_tensors():
    import torch

    compare((np.ones(2), None), (np.ones(2), None))
    with pytest.raises(CheckFailure, match="should be None"):
        compare(np.ones(2), None, what="db")
    with pytest.raises(CheckFailure, match="torch Tensor; return a numpy array"):
        compare(torch.ones(2), np.ones(2))
    with pytest.raises(CheckFailure, match="contains NaN at index \\(1,\\)"):
        compare(np.array([1.0, np.nan]), np.array([1.0, 2.0]))


def test_closures_and_defaults_are_switched_off_too():
    import torch.nn.functional as F

    def make():
        tconv = F.conv2d

        def conv2d(x, weight, bias=None, stride=1, padding=0, _f=F.conv2d):
            return tconv(x, weight, bias, stride, padding)

        return conv2d

    with pytest.raises(ForbiddenError):
        check("conv2d", make())

    def keyword_only_default(x, weight, bias=None, stride=1, padding=0, *, _ref=conv.conv2d):
        return _ref(x, weight, bias, stride, padding)

    with pytest.raises(ForbiddenError):
        check("conv2d", keyword_only_default)
    assert keyword_only_default.__kwdefaults__["_ref"] is conv.conv2d  # restored


def test_unknown_exercise():
    with pytest.raises(ValueError, match="unknown exercise 'conv3d'"):
        check("conv3d", lambda x: x)


def test_dict_outputs_are_compared_key_by_key():
    compare({"W": np.ones(2)}, {"W": np.ones(2)})
    with pytest.raises(CheckFailure, match=r"grads\['W2'\] has shape \(3,\), expected \(2,\)"):
        compare({"W2": np.ones(3)}, {"W2": np.ones(2)}, what="grads")
    with pytest.raises(CheckFailure, match=r"has no entry for \['b'\]"):
        compare({"W": np.ones(2)}, {"W": np.ones(2), "b": np.ones(1)}, what="grads")
    with pytest.raises(CheckFailure, match="should be a dict"):
        compare([np.ones(2)], {"W": np.ones(2)}, what="grads")


def test_passing_the_reference_itself_earns_nothing():
    from course_lib.reference import mlp

    with pytest.raises(ForbiddenError, match="course_lib.reference.conv.conv2d` itself"):
        check("conv2d", conv.conv2d)
    if "numerical_gradient" in EXERCISES:  # Chapter 1 switches course_lib.gradcheck off
        with pytest.raises(ForbiddenError, match="itself"):
            check("numerical_gradient", mlp.numerical_gradient)
