"""course_lib.models (LeNet-5) and course_lib.train (the notebooks' training loop)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib.data import digits_split  # noqa: E402
from course_lib.models import LeNet5, count_params, digits_to_32  # noqa: E402
from course_lib.reference.conv import conv_params  # noqa: E402
from course_lib.train import History, evaluate, fit, make_optimizer, plot_histories  # noqa: E402


def test_lenet5_has_the_classic_61706_parameters():
    model = LeNet5()
    by_hand = conv_params(1, 6, 5) + conv_params(6, 16, 5) + (400 + 1) * 120 + (120 + 1) * 84 + (84 + 1) * 10
    assert count_params(model) == by_hand == 61_706
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    assert model.features(torch.zeros(1, 1, 32, 32)).shape == (1, 16, 5, 5)


def test_lenet5_explains_bad_inputs_and_options():
    with pytest.raises(ValueError, match="expects \\(N, C, 32, 32\\).*digits_to_32"):
        LeNet5()(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="activation must be one of"):
        LeNet5(activation="swish")
    with pytest.raises(ValueError, match="dropout must be in"):
        LeNet5(dropout=1.5)
    assert count_params(LeNet5(batch_norm=True)) > 61_706
    assert digits_to_32(np.zeros((3, 1, 8, 8))).shape == (3, 1, 32, 32)


def test_fit_learns_digits_and_is_repeatable():
    Xtr, ytr, Xte, yte = digits_split()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
        runs.append(fit(model, (Xtr, ytr), (Xte, yte), epochs=5, lr=0.05, optimizer="sgd", progress=False))
    hist = runs[0]
    assert hist.train_loss == runs[1].train_loss, "same seed, same run"
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert hist.val_acc[-1] > 0.85
    assert len(hist.seconds) == hist.epochs == 5 and hist.total_seconds > 0
    loss, acc = evaluate(model, Xte, yte)
    assert acc == pytest.approx(runs[1].val_acc[-1]) and loss > 0


def test_early_stopping_restores_the_best_weights():
    Xtr, ytr, Xte, yte = digits_split()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    wrong_labels = (yte + 1) % 10  # learning the real labels makes this validation loss grow
    hist = fit(model, (Xtr, ytr), (Xte, wrong_labels), epochs=30, lr=0.1, optimizer="sgd", early_stopping=3,
               progress=False)
    assert hist.stopped_early and hist.epochs == hist.best_epoch + 4
    assert evaluate(model, Xte, wrong_labels)[0] == pytest.approx(min(hist.val_loss), rel=1e-5)
    with pytest.raises(ValueError, match="early_stopping needs validation data"):
        fit(model, (Xtr, ytr), epochs=1, early_stopping=2, progress=False)


def test_reduce_on_plateau_gets_the_validation_loss():
    Xtr, ytr, Xte, yte = digits_split()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    plateau = lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=0)  # noqa: E731
    hist = fit(model, (Xtr, ytr), (Xte, (yte + 1) % 10), epochs=4, lr=0.1, optimizer="sgd", scheduler=plateau,
               progress=False)
    assert hist.lr[-1] < hist.lr[0], "a rising validation loss divides the learning rate by 10"


def test_optimizers_and_plots():
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert make_optimizer("nesterov", params, 0.1).param_groups[0]["nesterov"]
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'"):
        make_optimizer("adagrad", params, 0.1)
    hist = History(train_loss=[1.0, 0.5], val_loss=[1.1, 0.7], train_acc=[0.5, 0.8], val_acc=[0.4, 0.7])
    assert len(hist.plot().axes) == 2
    assert len(plot_histories({"a": hist, "b": hist}).lines) == 2


def test_lenet5_strided_conv_downsampling_replaces_each_pool():
    model = LeNet5(pool="conv")
    assert count_params(model) == 61_706 + (6 * 6 * 4 + 6) + (16 * 16 * 4 + 16)  # two 2×2 convs, C → C
    assert model.features(torch.zeros(1, 1, 32, 32)).shape == (1, 16, 5, 5)
    assert not any(isinstance(m, (torch.nn.MaxPool2d, torch.nn.AvgPool2d)) for m in model.modules())


@pytest.mark.slow
def test_compare_downsampling_trains_three_lenets_that_learn():
    """Chapter 3's experiment: tolerant bounds (the notebook itself asserts nothing about training)."""
    from course_lib.pool_experiments import compare_downsampling

    threads = torch.get_num_threads()
    runs = compare_downsampling(epochs=3, progress=False)
    assert torch.get_num_threads() == threads  # restored
    assert [r.pool for r in runs] == ["max", "avg", "conv"]
    assert [r.params for r in runs] == [61_706, 61_706, 62_896]
    for run in runs:
        assert 0.7 < run.test_acc <= 1.0 and 0.7 < run.train_acc <= 1.0, run
