"""The README's Python examples run as written, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_its_examples():
    blocks = python_blocks()
    assert len(blocks) >= 4
    assert "import manual_backprop as mb" in blocks[0]


def test_the_library_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # it saves net.json and net.npz
    namespace: dict = {}
    exec(python_blocks()[0], namespace)

    assert (tmp_path / "net.json").exists() and (tmp_path / "net.npz").exists()
    params, grads = namespace["params"], namespace["grads"]
    assert grads.input_grad is None  # the loop's input_grad=False
    assert grads.param_grads() is namespace["out"]  # written into out=
    for (W, b), (dW, db) in zip(params, grads.param_grads(), strict=True):
        assert dW.shape == W.shape and db.shape == b.shape
        assert np.shares_memory(W, params.flat)  # still the packed buffer


def test_the_examples_that_need_tensorflow_run(tmp_path, monkeypatch, tf_reference):
    monkeypatch.chdir(tmp_path)
    library, cross, strategy, tensors = python_blocks()[:4]
    namespace: dict = {}
    exec(library, namespace)
    exec(cross, namespace)
    assert namespace["report"].passed

    exec(strategy, namespace)
    namespace["test_my_property"]()  # a Hypothesis test: runs its examples

    exec(tensors, namespace)
    tf = namespace["tf"]
    reference = namespace["mb"].backward(
        namespace["spec"], namespace["params"], namespace["x"], namespace["labels"]
    )
    grads = namespace["grads"]
    np.testing.assert_allclose(np.asarray(grads.loss), reference.loss, rtol=1e-12)
    traced = namespace["step"](
        namespace["tparams"],
        tf.constant(namespace["x"]),
        tf.constant(namespace["labels"]),
    )
    np.testing.assert_allclose(float(traced), reference.loss, rtol=1e-12)
