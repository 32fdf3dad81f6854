"""The benchmark's own implementations compute what the engine computes."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.fused import FusedStep
from benchmarks.implementations import LEARNING_RATE
from benchmarks.shapes import DEEP, SMALL, TINY, Shape, build_problem
from manual_backprop import SGD, backward


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [TINY, SMALL, DEEP], ids=lambda s: s.name)
def test_hand_fused_step_trains_like_the_engine(shape: Shape, dtype: str):
    problem = build_problem(shape, dtype)
    fused = FusedStep(problem, LEARNING_RATE)
    optimizer = SGD(LEARNING_RATE)
    params = problem.params
    scale = 1e-6 if dtype == "float32" else 1e-14

    for _ in range(3):
        loss, grads = fused()
        ref = backward(problem.spec, params, problem.x, problem.labels)
        ref_grads = [a for pair in ref.param_grads() for a in pair]

        np.testing.assert_allclose(loss, ref.loss, rtol=scale)
        for g, r in zip(grads, ref_grads, strict=True):
            np.testing.assert_allclose(g, r, rtol=0, atol=scale * np.abs(r).max())
        params = optimizer.step(params, ref.param_grads())

    for W, (W_ref, _) in zip(fused.W, params, strict=True):
        np.testing.assert_allclose(W, W_ref, rtol=0, atol=scale * np.abs(W_ref).max())


def test_hand_fused_step_refuses_networks_it_was_not_written_for():
    from dataclasses import replace

    problem = build_problem(TINY, "float32")
    spec = problem.spec
    relu = replace(spec.activations[0], name="relu")
    relu_spec = replace(spec, activations=(relu, *spec.activations[1:]))
    other = replace(problem, spec=relu_spec)

    with pytest.raises(ValueError, match="sigmoid hidden layers"):
        FusedStep(other, LEARNING_RATE)
