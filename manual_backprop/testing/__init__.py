"""Testing tools for the engine: Hypothesis strategies, properties, mutations.

* ``strategies``: Hypothesis strategies for network descriptions,
  parameters, batches and labels (``cases()`` draws them all);
* ``properties``: identities every correct backprop satisfies, checked with
  numpy alone, and float64 central differences;
* ``checks``: the cross-check against TensorFlow on a drawn case, and
  saving a failing case as a replay file;
* ``mutations``: a catalogue of classic backprop mistakes, each applied to
  a copy of the engine (``mutated_engine(name)``);
* ``detection``: hunting each mutation with the properties;
* ``sweep``: the no-false-alarm sweep (``python -m
  manual_backprop.testing.sweep``).

Only ``checks`` (lazily) and ``sweep`` import TensorFlow, through
``tf_reference``; the rest needs numpy and Hypothesis.
"""
