"""The suite catches every mistake in the mutation catalogue.

Each catalogued mutation is a small textual change to a copy of the engine
(``manual_backprop.testing.mutations``).  For each, the hunt
(``manual_backprop.testing.detection.hunt``) searches with Hypothesis for a
case on which some property fails, then shrinks it; the test asserts it is
caught, within the example budget, on a network of at most three layers,
and records the property, the examples it took and the shrunk size
(``record_property``: they show in ``--junitxml`` and in ``-rA`` output).
The full table is in docs/properties.md
(``python -m manual_backprop.testing.mutations --report docs/properties.md``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings

from manual_backprop import engine
from manual_backprop.testing.detection import hunt
from manual_backprop.testing.mutations import (
    MUTATION_LIST,
    Edit,
    Mutation,
    StaleMutation,
    check_catalogue,
    mutated_engine,
    mutated_sources,
)
from manual_backprop.testing.strategies import Case, cases

# Examples the hunt may try before it must have found the mistake (the
# table in docs/properties.md shows most need fewer than five).
EXAMPLE_BUDGET = 300
MAX_SHRUNK_LAYERS = 3


def test_every_mutation_snippet_occurs_exactly_once_in_the_engine() -> None:
    assert check_catalogue() == []


def test_the_catalogue_holds_at_least_twenty_distinct_mistakes() -> None:
    names = [m.name for m in MUTATION_LIST]
    assert len(set(names)) == len(names) >= 20
    edits = {tuple(m.edits) for m in MUTATION_LIST}
    assert len(edits) == len(MUTATION_LIST)


def test_a_stale_snippet_fails_loudly() -> None:
    stale = Mutation(
        "stale", "a snippet the engine lacks", (Edit("engine", "no such code", "x"),)
    )
    with pytest.raises(StaleMutation, match="occurs 0 time"):
        mutated_sources(stale)


@given(cases(max_depth=4, max_width=16, max_batch=8))
def test_an_unmutated_copy_computes_exactly_what_the_engine_computes(
    case: Case,
) -> None:
    copy = mutated_engine("none")
    with np.errstate(all="ignore"):
        a = engine.backward(case.spec, case.params, case.x, case.labels)
        b = copy.backward(case.spec, case.params, case.x, case.labels)
    np.testing.assert_array_equal(a.loss, b.loss)
    np.testing.assert_array_equal(a.input_grad, b.input_grad)
    for la, lb in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(la.delta, lb.delta)
        np.testing.assert_array_equal(la.weight_grad, lb.weight_grad)
        np.testing.assert_array_equal(la.bias_grad, lb.bias_grad)


def test_a_mutant_is_a_separate_package_and_leaves_the_engine_alone() -> None:
    mutant = mutated_engine("relu_derivative_one_at_zero")
    assert (
        mutant.package.__name__ == "manual_backprop_mutant_relu_derivative_one_at_zero"
    )
    assert mutant.backward is not engine.backward
    # The real relu'(0) is still 0.
    from manual_backprop import activations
    from manual_backprop.spec import Activation

    z = np.zeros((1, 1))
    assert activations.derivative(Activation("relu"), z, z, np) == 0
    assert mutant.package.activations.derivative(Activation("relu"), z, z, np) == 1


@pytest.mark.usefixtures("tf_reference")
@pytest.mark.parametrize("name", [m.name for m in MUTATION_LIST])
def test_the_suite_catches_the_mutation(name: str, record_property) -> None:
    detection = hunt(
        name,
        max_examples=EXAMPLE_BUDGET,
        derandomize=bool(hypothesis_settings.default.derandomize),
    )
    record_property("caught_by", detection.caught_by)
    record_property("examples", detection.examples)
    record_property("shrunk_widths", "-".join(map(str, detection.widths)))
    assert detection.caught, (
        f"mutation {name!r} ({detection.summary}) survived {detection.calls} examples"
    )
    assert detection.depth <= MAX_SHRUNK_LAYERS, (
        f"{name}: shrunk only to {detection.depth} layers {detection.widths}"
    )
    print(
        f"{name}: caught by {detection.caught_by!r} after {detection.examples} "
        f"example(s); shrunk to {detection.widths} B={detection.batch}"
    )
