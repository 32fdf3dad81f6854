"""A hand-fused numpy step: how fast numpy itself lets this step go.

This is not the engine.  It is the benchmark networks' training step (sigmoid
hidden layers, a softmax read by cross-entropy from the logits or a linear
output with mean squared error, plain SGD) written the way a performance
engineer would write it for numpy alone: every buffer allocated once, every
elementwise operation in place (``out=``), the parameters and gradients each
in one buffer so that the SGD update is one operation applied where the
weights lie, and only the arithmetic the step needs.  It computes
the loss and every parameter gradient, as the engine's step does, and its
gradients are checked like every other implementation's before it is timed.

What it buys is a floor for numpy programs: the engine's distance to it is
the price of the engine's generality (any activation, any loss, every δ kept,
new arrays on every call, several backends), and its own distance to the
matrix products alone is what numpy's one-thread, one-pass-per-operation
ufuncs cost on this machine, which no numpy engine can avoid.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from manual_backprop.params import pack_params, packed_like

from .shapes import Problem


class FusedStep:
    """One training step of ``problem``'s network, in preallocated buffers."""

    def __init__(self, problem: Problem, learning_rate: float) -> None:
        spec = problem.spec
        hidden = {a.name for a in spec.activations[:-1]}
        if hidden - {"sigmoid"} or spec.loss not in (
            "categorical_crossentropy",
            "mean_squared_error",
        ):
            raise ValueError(
                "the hand-fused step knows only sigmoid hidden layers with a "
                f"softmax + cross-entropy or linear + MSE output; got {spec}."
            )
        self.mse = spec.loss == "mean_squared_error"
        dtype = np.dtype(spec.dtype)
        self.eta = dtype.type(learning_rate)

        # Own copies, packed in one buffer (as the gradients are): the
        # update is in place, and one operation for all parameters.
        params = pack_params(problem.params)
        grads = packed_like(params)
        self.flat, self.flat_grads = params.flat, grads.flat
        self.W = [W for W, _ in params]
        self.b = [b for _, b in params]
        self.dW = [dW for dW, _ in grads]
        self.db = [db for _, db in grads]
        self.scratch = np.empty_like(self.flat)
        self.x, self.t = problem.x, problem.labels
        B = self.x.shape[0]

        def like(*shape: int) -> np.ndarray:
            return np.empty(shape, dtype)

        self.z = [like(B, W.shape[0]) for W in self.W]  # also y for sigmoid
        self.delta = [like(B, W.shape[0]) for W in self.W]
        self.g = [like(B, W.shape[1]) for W in self.W]  # ∂L/∂y of the layer below
        self.row = like(B, 1)
        self.ones = np.ones(B, dtype)  # Σ_rows δ as the product 1ᵀ δ (BLAS)

    def __call__(self) -> tuple[Any, list[np.ndarray]]:
        depth = len(self.W)
        B = self.x.shape[0]

        # Forward: z = x Wᵀ + b in place; hidden layers overwrite z with y.
        x = self.x
        for layer in range(depth):
            z = self.z[layer]
            np.matmul(x, self.W[layer].T, out=z)
            z += self.b[layer]
            if layer < depth - 1:
                np.negative(z, out=z)
                np.exp(z, out=z)
                z += 1
                np.reciprocal(z, out=z)
            x = z

        # Loss and δⁿ.
        z, delta = self.z[-1], self.delta[-1]
        if self.mse:
            np.subtract(z, self.t, out=delta)
            flat = delta.ravel()
            loss = np.dot(flat, flat) / flat.size
            delta *= 2 / flat.size
        else:
            np.max(z, axis=1, keepdims=True, out=self.row)
            np.subtract(z, self.row, out=delta)  # the shifted logits s
            # ℓ = log Σ exp(s) − Σ t s, for label rows that sum to 1.
            loss = -np.vdot(self.t, delta)
            np.exp(delta, out=delta)
            np.sum(delta, axis=1, keepdims=True, out=self.row)
            loss = (loss + np.log(self.row).sum()) / B
            delta /= self.row
            delta -= self.t
            delta /= B

        # Backward, then the SGD update of every parameter at once.
        for layer in range(depth - 1, -1, -1):
            delta = self.delta[layer]
            x = self.x if layer == 0 else self.z[layer - 1]
            np.matmul(delta.T, x, out=self.dW[layer])
            np.matmul(self.ones, delta, out=self.db[layer])
            if layer > 0:
                g, below = self.g[layer], self.delta[layer - 1]
                np.matmul(delta, self.W[layer], out=g)
                np.subtract(1, x, out=below)
                below *= x
                below *= g
        np.multiply(self.flat_grads, self.eta, out=self.scratch)
        self.flat -= self.scratch

        return loss, [a for pair in zip(self.dW, self.db, strict=True) for a in pair]
