"""Benchmarks: one training step of the engine against ``tf.GradientTape``.

Run ``manual-backprop bench`` or ``python -m benchmarks`` (``--help`` lists
the options).  The sweep times a full training step (forward, backward and an
SGD update) for every implementation in ``implementations``, on the network
shapes of ``shapes``, measures the machine's matrix-multiply ceiling in the
same process, and writes JSON, Markdown and PNG files (``report``).
"""
