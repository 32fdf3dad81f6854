"""A catalogue of classic backprop mistakes, each applied to a copy of the engine.

A :class:`Mutation` is a named, small textual change to the source of one
or more of the engine's modules (``activations``, ``losses``,
``optimizers``, ``engine``).  :func:`mutated_engine` reads those files,
applies the change, and executes the result as a fresh package
``manual_backprop_mutant_<name>``; every other module (``spec``,
``params``, ``backend``, ``errors``, …) is the original, shared, so the
mutant takes the same ``NetworkSpec`` and parameters as the real engine.
The real engine is never touched.

Every edit must match its module's source exactly once; a snippet that no
longer matches (the engine was rewritten) raises :class:`StaleMutation`
instead of silently testing nothing.

The test suite (``tests/test_mutations.py``) asserts that its properties
catch every mutation here.  Each mutation is hunted with the general case
strategy narrowed to the part of the network its code touches (``focus``:
keyword arguments of :func:`manual_backprop.testing.strategies.cases`), as
a user testing that activation or loss would.  Write the table with::

    python -m manual_backprop.testing.mutations --report docs/properties.md

and update one row (the others are kept) with ``--only NAME --report …``;
``--list`` prints the names.
"""

from __future__ import annotations

import functools
import importlib
import re
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import manual_backprop

# The modules a mutation may change, in the order they are executed (each
# imports only the ones before it, and the shared modules).
ENGINE_MODULES = ("activations", "losses", "optimizers", "engine")

PACKAGE_DIR = Path(manual_backprop.__file__).parent


class StaleMutation(RuntimeError):
    """A mutation's snippet no longer occurs exactly once in the engine."""


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` (which must occur exactly once) by ``new`` in ``module``."""

    module: str
    old: str
    new: str


@dataclass(frozen=True)
class Mutation:
    """One classic mistake: its name, what it gets wrong, and its edits.

    ``focus`` narrows the case strategy to where the mistake lives;
    ``sgd`` says the mistake is in the optimizer, so the hunt runs SGD
    steps; ``steps`` the fewest steps that can show it.
    """

    name: str
    summary: str
    edits: tuple[Edit, ...]
    focus: dict[str, Any] = field(default_factory=dict)
    sgd: bool = False
    steps: int = 1


def _m(
    name: str,
    summary: str,
    module: str,
    old: str,
    new: str,
    *more: Edit,
    focus: dict[str, Any] | None = None,
    sgd: bool = False,
    steps: int = 1,
) -> Mutation:
    return Mutation(
        name, summary, (Edit(module, old, new), *more), focus or {}, sgd, steps
    )


# Loss families, to focus a hunt on one.
_REGRESSION = ("mean_squared_error", "mean_absolute_error", "huber")
_CCE = ("categorical_crossentropy",)
_SPARSE = ("sparse_categorical_crossentropy",)
_BCE = ("binary_crossentropy",)
_PROBS = ("probabilities",)

MUTATION_LIST: tuple[Mutation, ...] = (
    # The recursion itself (engine.py).
    _m(
        "weight_grad_reshaped_not_transposed",
        "∂L/∂W built as Keras's (in, out) kernel and reshaped, not transposed",
        "engine",
        "weight_grad = xp.matmul(xp.transpose(delta), x_l, out=out.W)",
        "weight_grad = xp.reshape(xp.matmul(xp.transpose(x_l), delta), W.shape)",
    ),
    _m(
        "backprop_through_reshaped_weights",
        "δ W_{l+1} formed with W reshaped to Wᵀ's shape instead of transposed",
        "engine",
        "g = xp.matmul(delta, W)",
        "g = xp.matmul(delta, xp.reshape(xp.transpose(W), W.shape))",
    ),
    _m(
        "missing_activation_derivative",
        "the recursion forgets f'(z_l): δˡ = W_{l+1}ᵀ δˡ⁺¹",
        "engine",
        "delta = activations.backward(below, g, z, y,",
        "delta = g if True else activations.backward(below, g, z, y,",
        focus={"min_depth": 2},
    ),
    _m(
        "derivative_taken_at_output",
        "f' evaluated at y_l instead of z_l",
        "engine",
        "delta = activations.backward(below, g, z, y,",
        "delta = activations.backward(below, g, y, y,",
        focus={"min_depth": 2, "hidden": ("elu", "softplus", "softsign", "silu")},
    ),
    _m(
        "off_by_one_activation",
        "layer l−1's δ uses layer l's activation",
        "engine",
        "below = spec.activations[layer - 2]",
        "below = spec.activations[layer - 1]",
        focus={"min_depth": 2},
    ),
    _m(
        "bias_grad_mean_over_batch",
        "∂L/∂b is the batch mean of δ instead of its sum",
        "engine",
        "bias_grad = bk.batch_sum(delta, out=out.b)",
        "bias_grad = bk.batch_sum(delta) / delta.shape[0]",
    ),
    _m(
        "bias_grad_first_example",
        "∂L/∂b is the first example's δ, not summed over the batch",
        "engine",
        "bias_grad = bk.batch_sum(delta, out=out.b)",
        "bias_grad = delta[0]",
    ),
    _m(
        "weight_grad_scaled_by_batch",
        "∂L/∂W multiplied by the batch size B",
        "engine",
        "weight_grad = xp.matmul(xp.transpose(delta), x_l, out=out.W)",
        "weight_grad = xp.matmul(xp.transpose(delta), x_l) * x_l.shape[0]",
    ),
    _m(
        "fused_output_delta_ignored",
        "a fused sigmoid/softmax + cross-entropy takes the clipped literal path",
        "engine",
        "if spec.fused:\n        return losses.logits_gradient(",
        "if False:\n        return losses.logits_gradient(",
        focus={"paths": ("fused",), "regions": ("saturated",)},
    ),
    _m(
        "logits_read_as_probabilities",
        "from_logits=True ignored in the backward pass",
        "engine",
        "        g = losses.logits_gradient(spec, y, labels, xp)",
        "        g = losses.gradient(spec, y, labels, xp)",
        focus={"paths": ("logits",), "losses": _BCE + _CCE},
    ),
    # Activation derivatives and their kinks (activations.py).
    _m(
        "relu_derivative_one_at_zero",
        "relu'(0) = 1 (TensorFlow: 0)",
        "activations",
        "    return _step(xp, z > 0, z)\n",
        "    return _step(xp, z >= 0, z)\n",
        focus={"hidden": ("relu",), "min_depth": 2, "regions": ("kinks",)},
    ),
    _m(
        "leaky_relu_derivative_one_at_zero",
        "leaky_relu'(0) = 1 (TensorFlow: the slope)",
        "activations",
        "(1 - slope) * _step(xp, z > 0, z)",
        "(1 - slope) * _step(xp, z >= 0, z)",
        focus={"hidden": ("leaky_relu",), "min_depth": 2, "regions": ("kinks",)},
    ),
    _m(
        "leaky_relu_layer_default_slope",
        "leaky_relu's derivative uses the layer's default 0.3, not its slope",
        "activations",
        "    slope = _slope(act)\n    return slope + (1 - slope)",
        "    slope = 0.3\n    return slope + (1 - slope)",
        focus={"hidden": ("leaky_relu",), "min_depth": 2},
    ),
    _m(
        "elu_derivative_one_at_zero",
        "elu'(0) = 1 instead of alpha (matters for alpha ≠ 1)",
        "activations",
        "xp.where(z > 0, xp.ones_like(z), act.alpha * (e + 1))",
        "xp.where(z >= 0, xp.ones_like(z), act.alpha * (e + 1))",
        focus={"hidden": ("elu",), "min_depth": 2, "regions": ("kinks",)},
    ),
    _m(
        "elu_derivative_without_alpha",
        "elu'(z) = exp(z) for z < 0, forgetting alpha",
        "activations",
        "act.alpha * (e + 1))",
        "(e + 1))",
        focus={"hidden": ("elu",), "min_depth": 2},
    ),
    _m(
        "hard_sigmoid_kinks_inclusive",
        "hard_sigmoid' = 1/6 at z = ±3 (TensorFlow's relu6: 0)",
        "activations",
        "(s > 0) & (s < 6)",
        "(s >= 0) & (s <= 6)",
        focus={"hidden": ("hard_sigmoid",), "min_depth": 2, "regions": ("kinks",)},
    ),
    _m(
        "hard_sigmoid_keras2_slope",
        "hard_sigmoid' = 0.2 (Keras 2's 0.2·z + 0.5) with Keras 3's forward",
        "activations",
        "(s > 0) & (s < 6), z) / 6",
        "(s > 0) & (s < 6), z) / 5",
        focus={"hidden": ("hard_sigmoid",), "min_depth": 2},
    ),
    _m(
        "tanh_derivative_one_minus_y",
        "tanh' = 1 − y instead of 1 − y²",
        "activations",
        "d = y * y\n",
        "d = y * 1\n",
        focus={"hidden": ("tanh",), "min_depth": 2},
    ),
    _m(
        "sigmoid_derivative_sign",
        "sigmoid' = y(1 + y) instead of y(1 − y)",
        "activations",
        "d = 1 - y\n    d *= y",
        "d = 1 + y\n    d *= y",
        focus={"hidden": ("sigmoid",), "min_depth": 2},
    ),
    _m(
        "softmax_jacobian_diagonal",
        "softmax backward uses only the Jacobian's diagonal y(1 − y)",
        "activations",
        "return y * (g - xp.sum(g * y, axis=-1, keepdims=True))",
        "return y * (1 - y) * g",
        focus={"hidden": ("softmax",), "min_depth": 2},
    ),
    _m(
        "softmax_jvp_summed_over_batch",
        "softmax backward sums g·y over the batch axis instead of the classes",
        "activations",
        "return y * (g - xp.sum(g * y, axis=-1, keepdims=True))",
        "return y * (g - xp.sum(g * y, axis=0, keepdims=True))",
        focus={"hidden": ("softmax",), "min_depth": 2},
    ),
    _m(
        "selu_derivative_without_scale",
        "selu'(z) for z < 0 forgets the scale: y + alpha",
        "activations",
        "y + SELU_SCALE * SELU_ALPHA, scale)",
        "y + SELU_ALPHA, scale)",
        focus={"hidden": ("selu",), "min_depth": 2},
    ),
    _m(
        "selu_derivative_at_zero_from_below",
        "selu'(0) = scale·alpha, the negative branch (TensorFlow: scale)",
        "activations",
        "xp.where(y < 0, y + SELU_SCALE",
        "xp.where(y <= 0, y + SELU_SCALE",
        focus={"hidden": ("selu",), "min_depth": 2, "regions": ("kinks",)},
    ),
    _m(
        "gelu_derivative_cdf_only",
        "gelu' = Φ(z), missing the z·φ(z) term",
        "activations",
        "return 0.5 * erfc(-u) + z *",
        "return 0.5 * erfc(-u) + 0 * z *",
        focus={"hidden": ("gelu",), "min_depth": 2},
    ),
    _m(
        "silu_derivative_is_sigmoid",
        "silu' = sigmoid(z), missing z·s(1 − s)",
        "activations",
        "return s * (1 + z * (1 - s))",
        "return s",
        focus={"hidden": ("silu",), "min_depth": 2},
    ),
    _m(
        "softsign_derivative_not_squared",
        "softsign' = 1/(1 + |z|) instead of 1/(1 + |z|)²",
        "activations",
        "return 1 / (d * d)",
        "return 1 / d",
        focus={"hidden": ("softsign",), "min_depth": 2},
    ),
    _m(
        "softplus_derivative_sign",
        "softplus' = sigmoid(−z)",
        "activations",
        "def _d_softplus(xp: Any, z: Any, y: Any, act: Activation) -> Any:\n"
        "    return 1 / (1 + xp.exp(-z))",
        "def _d_softplus(xp: Any, z: Any, y: Any, act: Activation) -> Any:\n"
        "    return 1 / (1 + xp.exp(z))",
        focus={"hidden": ("softplus",), "min_depth": 2},
    ),
    # Losses (losses.py).
    _m(
        "mse_gradient_missing_two",
        "∂MSE/∂y = (y − t)/(B·n) without the 2",
        "losses",
        "return (2 / (batch * n_out)) * (y - t)",
        "return (1 / (batch * n_out)) * (y - t)",
        focus={"losses": ("mean_squared_error",)},
    ),
    _m(
        "mse_gradient_missing_one_over_batch",
        "∂MSE/∂y without the 1/B of the batch mean",
        "losses",
        "return (2 / (batch * n_out)) * (y - t)",
        "return (2 / n_out) * (y - t)",
        focus={"losses": ("mean_squared_error",)},
    ),
    _m(
        "cce_logits_gradient_missing_one_over_batch",
        "softmax cross-entropy's δ = softmax(z) − t without the 1/B",
        "losses",
        "return (softmax - t) / batch",
        "return softmax - t",
        focus={"losses": _CCE, "paths": ("fused", "logits")},
    ),
    _m(
        "bce_gradient_sum_over_outputs",
        "binary cross-entropy's gradient sums over the outputs (Keras: mean)",
        "losses",
        "return g * _inside(xp, y, lo, hi) / (batch * n_out)",
        "return g * _inside(xp, y, lo, hi) / batch",
        focus={"losses": _BCE, "paths": _PROBS},
    ),
    _m(
        "cce_loss_mean_over_classes",
        "categorical cross-entropy's value averaged over classes, not summed",
        "losses",
        "return -xp.sum(t * xp.log(p), axis=-1)",
        "return -xp.mean(t * xp.log(p), axis=-1)",
        focus={"losses": _CCE, "paths": _PROBS},
    ),
    _m(
        "cce_without_row_normalisation",
        "categorical cross-entropy on probabilities skips Keras's y / Σy",
        "losses",
        "p = xp.clip(y / xp.sum(y, axis=-1, keepdims=True), lo, hi)",
        "p = xp.clip(y, lo, hi)",
        Edit(
            "losses",
            "s = xp.sum(y, axis=-1, keepdims=True)",
            "s = xp.ones_like(xp.sum(y, axis=-1, keepdims=True))",
        ),
        focus={"losses": _CCE, "paths": _PROBS, "outputs": ("sigmoid",)},
    ),
    _m(
        "sparse_cce_normaliser_unclipped",
        "sparse cross-entropy's gradient normalises by Σy, not Σclip(y)",
        "losses",
        "g_p = 1 / xp.sum(p, axis=-1, keepdims=True) - onehot / p",
        "g_p = 1 / xp.sum(y, axis=-1, keepdims=True) - onehot / p",
        focus={
            "losses": _SPARSE,
            "paths": _PROBS,
            "outputs": ("sigmoid",),
            "regions": ("saturated", "large"),
        },
    ),
    _m(
        "gradient_through_clip",
        "binary cross-entropy passes the gradient where the clip is active",
        "losses",
        "return g * _inside(xp, y, lo, hi) / (batch * n_out)",
        "return g / (batch * n_out)",
        focus={
            "losses": _BCE,
            "paths": _PROBS,
            "outputs": ("sigmoid", "softmax"),
            "regions": ("saturated",),
        },
    ),
    _m(
        "clip_lower_bound_wrong",
        "probabilities clipped at 1e-5 instead of Keras's epsilon 1e-7",
        "losses",
        "return xp.asarray(EPSILON, dtype=dtype),",
        "return xp.asarray(EPSILON * 100, dtype=dtype),",
        focus={"losses": _BCE, "paths": _PROBS, "regions": ("saturated",)},
    ),
    _m(
        "mae_sign_of_zero_is_one",
        "mean absolute error's gradient at a zero error is +1/(B·n), not 0",
        "losses",
        "return xp.sign(y - t) / (batch * n_out)",
        "return (xp.sign(y - t) + (y == t)) / (batch * n_out)",
        focus={
            "losses": ("mean_absolute_error",),
            "outputs": ("linear",),
            "regions": ("kinks",),
        },
    ),
    _m(
        "huber_linear_branch_without_delta",
        "Huber's gradient beyond delta is sign(e), not delta·sign(e)",
        "losses",
        "xp.where(xp.abs(e) <= d, e, d * xp.sign(e))",
        "xp.where(xp.abs(e) <= d, e, xp.sign(e))",
        focus={"losses": ("huber",)},
    ),
    _m(
        "bce_logits_gradient_sign",
        "binary cross-entropy on logits: δ = t − sigmoid(z)",
        "losses",
        "return (1 / (1 + xp.exp(-z)) - t) / (batch * n_out)",
        "return (t - 1 / (1 + xp.exp(-z))) / (batch * n_out)",
        focus={"losses": _BCE, "paths": ("fused", "logits")},
    ),
    # The optimizer (optimizers.py).
    _m(
        "momentum_sign_error",
        "momentum velocity v ← μv + ηg",
        "optimizers",
        "v = mu * self.velocities[i] - eta * g",
        "v = mu * self.velocities[i] + eta * g",
        sgd=True,
    ),
    _m(
        "nesterov_as_plain_momentum",
        "Nesterov's update w ← w + v, the plain momentum one",
        "optimizers",
        "new.append(w + (mu * v - eta * g))",
        "new.append(w + v)",
        sgd=True,
    ),
    _m(
        "velocity_not_kept",
        "the velocity is not carried to the next step",
        "optimizers",
        "self.velocities[i] = v",
        "self.velocities[i] = 0 * v",
        sgd=True,
        steps=2,
    ),
)

MUTATIONS: dict[str, Mutation] = {m.name: m for m in MUTATION_LIST}


def _original_source(module: str) -> str:
    return (PACKAGE_DIR / f"{module}.py").read_text()


def mutated_sources(mutation: Mutation) -> dict[str, str]:
    """The engine modules' sources with ``mutation``'s edits applied.

    Raises:
        StaleMutation: an edit's ``old`` text occurs other than exactly
            once in its module.
    """
    sources = {name: _original_source(name) for name in ENGINE_MODULES}
    for edit in mutation.edits:
        count = sources[edit.module].count(edit.old)
        if count != 1:
            raise StaleMutation(
                f"mutation {mutation.name!r}: the snippet {edit.old!r} occurs "
                f"{count} time(s) in manual_backprop/{edit.module}.py, expected "
                "exactly once. The engine changed; update the snippet in "
                "manual_backprop/testing/mutations.py."
            )
        sources[edit.module] = sources[edit.module].replace(edit.old, edit.new)
    return sources


@dataclass(frozen=True)
class MutatedEngine:
    """A broken copy of the engine: its ``backward``, ``forward`` and ``SGD``."""

    name: str
    mutation: Mutation | None
    package: types.ModuleType
    backward: Any
    forward: Any
    SGD: Any

    def __repr__(self) -> str:
        return f"MutatedEngine({self.name!r})"


_RELATIVE_IMPORT = re.compile(r"^\s*from \.(\w*) import ([\w, ()]+)", re.M)


def _shared_modules(sources: dict[str, str]) -> set[str]:
    """Sibling modules the engine modules import that are not mutated."""
    shared: set[str] = set()
    for text in sources.values():
        for module, names in _RELATIVE_IMPORT.findall(text):
            if module:
                shared.add(module)
            else:
                shared.update(n.strip() for n in names.strip("()").split(","))
    return shared - set(ENGINE_MODULES) - {""}


def _load(package_name: str, sources: dict[str, str], label: str) -> types.ModuleType:
    package = types.ModuleType(package_name, f"manual_backprop copy: {label}")
    package.__path__ = []  # a package, so relative imports resolve inside it
    package.__package__ = package_name
    sys.modules[package_name] = package

    for name in sorted(_shared_modules(sources)):
        original = importlib.import_module(f"manual_backprop.{name}")
        sys.modules[f"{package_name}.{name}"] = original
        setattr(package, name, original)

    for name in ENGINE_MODULES:
        full = f"{package_name}.{name}"
        module = types.ModuleType(full)
        module.__package__ = package_name
        module.__file__ = str(PACKAGE_DIR / f"{name}.py")
        sys.modules[full] = module
        code = compile(sources[name], f"<{label}>/{name}.py", "exec")
        exec(code, module.__dict__)
        setattr(package, name, module)
    return package


@functools.cache
def mutated_engine(name: str) -> MutatedEngine:
    """The engine with mutation ``name`` applied, built once per process.

    ``name`` may also be ``"none"``: an unmutated copy, made by the same
    machinery (the tests check it computes exactly what the engine does).

    Raises:
        KeyError: no mutation has that name (the message lists them).
        StaleMutation: the mutation's snippet no longer matches the engine.
    """
    if name == "none":
        mutation = None
        sources = {m: _original_source(m) for m in ENGINE_MODULES}
    else:
        if name not in MUTATIONS:
            raise KeyError(f"no mutation named {name!r}; known: {', '.join(MUTATIONS)}")
        mutation = MUTATIONS[name]
        sources = mutated_sources(mutation)

    package_name = f"manual_backprop_mutant_{name}"
    package = _load(package_name, sources, f"mutation {name}")
    engine = package.engine
    return MutatedEngine(
        name,
        mutation,
        package,
        engine.backward,
        engine.forward,
        package.optimizers.SGD,
    )


def check_catalogue() -> list[str]:
    """Every mutation's snippets, checked against the engine as it stands.

    Returns the stale mutations' messages (empty when all apply).
    """
    problems = []
    for mutation in MUTATION_LIST:
        try:
            mutated_sources(mutation)
        except StaleMutation as err:
            problems.append(str(err))
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m manual_backprop.testing.mutations [--check | --report F]``."""
    from .cli import mutations_main

    return mutations_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
