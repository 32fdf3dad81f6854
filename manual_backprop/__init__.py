"""A backpropagation engine written by hand, with numpy alone.

It follows the delta recursion of the lecture notes: ``z_l = W_l x_l + b_l``,
``y_l = f(z_l)``, ``δⁿ = ∂L/∂z_n``, ``δˡ = δˡ⁺¹ ∂z_{l+1}/∂z_l``,
``∂L/∂W_l = δˡ ∂z_l/∂W_l``.  See ``engine`` for the layout of the arrays.

Importing this package never imports TensorFlow.
"""

from .engine import ForwardPass, Gradients, LayerGradients, backward, forward
from .errors import (
    DTypeError,
    InputTypeError,
    LabelError,
    ManualBackpropError,
    NonFiniteError,
    ShapeError,
    SpecError,
)
from .optimizers import SGD
from .params import (
    LayerParams,
    PackedParams,
    Params,
    init_params,
    load_params,
    pack_params,
    packed_like,
    save_params,
)
from .spec import ACTIVATIONS, LOSSES, Activation, NetworkSpec
from .training import History, train

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "SGD",
    "Activation",
    "DTypeError",
    "ForwardPass",
    "Gradients",
    "History",
    "InputTypeError",
    "LabelError",
    "LayerGradients",
    "LayerParams",
    "ManualBackpropError",
    "NetworkSpec",
    "NonFiniteError",
    "PackedParams",
    "Params",
    "ShapeError",
    "SpecError",
    "backward",
    "forward",
    "init_params",
    "load_params",
    "pack_params",
    "packed_like",
    "save_params",
    "train",
]
