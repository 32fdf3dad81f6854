"""The network shapes and batch sizes the sweep times, and its two presets.

Every hidden layer is a sigmoid; the output is a softmax read by categorical
cross-entropy on Keras's fused path (``softmax(z) - t`` from the logits), or,
for ``tiny``, a linear output with mean squared error.  These are the shapes
of the performance baseline notes, so the figures can be read side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from manual_backprop.params import Params, init_params
from manual_backprop.spec import Activation, NetworkSpec

# A step is GEMM-bound when its matrix products do at least this many FLOPs
# for every value its elementwise work touches (see Shape.gemm_intensity).
# Each such value costs about ten numpy passes (bias, activation and its
# derivative, the loss, the SGD update) on one core, each pass a fraction
# of a nanosecond; 256 FLOPs take about 1.3 ns at this machine's 2-core
# GEMM ceiling (about 200 GFLOP/s in float32).  Below it, the elementwise
# passes and Python's per-call cost are a large share of the step however
# the step is written, and its time cannot approach its products'.
GEMM_BOUND_INTENSITY = 256


@dataclass(frozen=True)
class Shape:
    """A network shape and a batch size, named for the tables."""

    name: str
    widths: tuple[int, ...]
    batch: int

    @property
    def label(self) -> str:
        if len(set(self.widths)) == 1:
            described = f"[{self.widths[0]}]x{len(self.widths)}"
        else:
            described = "-".join(map(str, self.widths))
        return f"{self.name} {described} B={self.batch}"

    @property
    def n_params(self) -> int:
        pairs = zip(self.widths[:-1], self.widths[1:], strict=True)
        return sum(n_in * n_out + n_out for n_in, n_out in pairs)

    @property
    def gemm_flops(self) -> int:
        """FLOPs of one training step's matrix products, 2·B·n·m each.

        Three per layer (forward ``x Wᵀ``, backward ``δᵀ x`` and ``δ W``),
        except that no step forms layer 1's ``δ W``: ``∂L/∂x`` is not
        needed to train, and neither the tape nor the engine's timed step
        computes it.
        """
        pairs = list(zip(self.widths[:-1], self.widths[1:], strict=True))
        n_in, n_out = pairs[0]
        total = sum(6 * self.batch * n_in * n_out for n_in, n_out in pairs)
        return total - 2 * self.batch * n_in * n_out

    @property
    def elementwise_values(self) -> int:
        """Values the step's elementwise work touches: every layer's
        ``B × n_l`` activations (bias, activation, derivative, loss) and
        every parameter (the SGD update)."""
        return self.batch * sum(self.widths[1:]) + self.n_params

    @property
    def gemm_intensity(self) -> float:
        """GEMM FLOPs per elementwise value: high means GEMM-bound."""
        return self.gemm_flops / self.elementwise_values

    @property
    def gemm_bound(self) -> bool:
        """Whether the step should cost little more than its products."""
        return self.gemm_intensity >= GEMM_BOUND_INTENSITY

    def spec(self, dtype: str) -> NetworkSpec:
        depth = len(self.widths) - 1
        if self.name == "tiny":
            acts = ("sigmoid",) * (depth - 1) + ("linear",)
            loss = "mean_squared_error"
        else:
            acts = ("sigmoid",) * (depth - 1) + ("softmax",)
            loss = "categorical_crossentropy"
        return NetworkSpec(
            widths=self.widths,
            activations=tuple(Activation(name) for name in acts),
            loss=loss,
            dtype=dtype,
        )


@dataclass(frozen=True)
class Problem:
    """Everything one timed shape needs, built before any timing starts."""

    shape: Shape
    spec: NetworkSpec
    params: Params
    x: np.ndarray
    labels: np.ndarray


def build_problem(shape: Shape, dtype: str, seed: int = 0) -> Problem:
    """Glorot weights, normal inputs and one-hot (or normal) targets."""
    spec = shape.spec(dtype)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((shape.batch, shape.widths[0])).astype(dtype)
    n_out = shape.widths[-1]
    if spec.loss == "mean_squared_error":
        labels = rng.standard_normal((shape.batch, n_out)).astype(dtype)
    else:
        classes = rng.integers(0, n_out, size=shape.batch)
        labels = np.eye(n_out, dtype=dtype)[classes]
    return Problem(shape, spec, init_params(spec, seed), x, labels)


TINY = Shape("tiny", (8, 16, 16, 1), 4)
SMALL = Shape("small", (784, 128, 10), 32)
SMALL_B256 = Shape("small", (784, 128, 10), 256)
MEDIUM = Shape("medium", (784, 512, 512, 10), 128)
DEEP = Shape("deep-narrow", (64,) * 21, 64)
LARGE = Shape("large", (4096,) * 4, 1024)


@dataclass(frozen=True)
class Preset:
    """How much to measure: shapes, dtypes, repeats and sample lengths."""

    name: str
    shapes: tuple[Shape, ...]
    dtypes: tuple[str, ...]
    rounds: int  # rounds of interleaved blocks, one block per implementation
    samples_per_block: int
    sample_seconds: float  # an inner loop lasts at least this long
    big_rounds: int  # rounds for steps longer than about 0.2 s
    ceiling_n: int  # square GEMM size for the machine's ceiling
    memory_shapes: tuple[str, ...]  # shapes measured in fresh processes


PRESETS = {
    # A few minutes on 2 cores.  Five rounds, so that the round-by-round
    # ratios show their spread; the large shape gets one sample per round
    # (its 1-2 s steps are steady in themselves), and a median of five
    # survives two samples taken while the machine ran at its slow level.
    "quick": Preset(
        name="quick",
        shapes=(TINY, SMALL, SMALL_B256, MEDIUM, DEEP, LARGE),
        dtypes=("float32",),
        rounds=5,
        samples_per_block=2,
        sample_seconds=0.03,
        big_rounds=5,
        ceiling_n=2048,
        memory_shapes=("medium",),
    ),
    "full": Preset(
        name="full",
        shapes=(
            TINY,
            SMALL,
            Shape("small", (784, 128, 10), 128),
            SMALL_B256,
            Shape("small", (784, 128, 10), 1024),
            MEDIUM,
            Shape("medium", (784, 512, 512, 10), 512),
            DEEP,
            LARGE,
        ),
        dtypes=("float32", "float64"),
        rounds=5,
        samples_per_block=3,
        sample_seconds=0.1,
        big_rounds=5,
        ceiling_n=4096,
        memory_shapes=("tiny", "small", "medium", "deep-narrow", "large"),
    ),
}
