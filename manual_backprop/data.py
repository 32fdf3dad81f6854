"""Real data with no download: scikit-learn's bundled 8×8 handwritten digits.

1,797 images of the digits 0–9, each 8×8 pixels with values 0–16, ship
inside scikit-learn.  ``load_digits`` scales them to ``[0, 1]`` (divided by
16), flattens each image to 64 inputs and splits the examples into a
training and a test set by a seeded permutation, so the split is the same
on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ManualBackpropError

N_CLASSES = 10
N_INPUTS = 64
PIXEL_MAX = 16.0  # the digits' pixel values run from 0 to 16


@dataclass(frozen=True)
class Digits:
    """Training and test arrays: ``x`` is ``(B, 64)``, labels one-hot
    ``(B, 10)`` in the same dtype, or ``(B,)`` integers when sparse."""

    x_train: np.ndarray
    labels_train: np.ndarray
    x_test: np.ndarray
    labels_test: np.ndarray


def load_digits(
    dtype: str = "float32",
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    sparse: bool = False,
) -> Digits:
    """The digits, scaled to ``[0, 1]`` and split deterministically.

    Args:
        dtype: the dtype of ``x`` and of one-hot labels.
        test_fraction: the share of examples held out, in ``(0, 1)``.
        seed: seeds the permutation that decides the split.
        sparse: integer class labels ``(B,)`` instead of one-hot rows.
    """
    if not 0 < test_fraction < 1:
        raise ManualBackpropError(
            f"test_fraction must lie strictly between 0 and 1; received "
            f"{test_fraction}."
        )
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = (bunch.data / PIXEL_MAX).astype(dtype)
    classes = bunch.target.astype(np.int64)
    labels = classes if sparse else np.eye(N_CLASSES, dtype=dtype)[classes]

    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, train = order[:n_test], order[n_test:]
    return Digits(x[train], labels[train], x[test], labels[test])


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """The share of rows whose largest output is the labelled class."""
    truth = labels if labels.ndim == 1 else np.argmax(labels, axis=-1)
    return float(np.mean(np.argmax(outputs, axis=-1) == truth))
