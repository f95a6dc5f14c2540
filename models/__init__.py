"""Sequence models searched by this project: LSTM, GRU, TCN and transformer.

    model = models.build("lstm", n_features=1, horizon=4, n_targets=1, layer_sizes="64,32")

Each family has one readable file (``recurrent.py``, ``tcn.py``, ``transformer.py``) with a
@dataclass of its searched parameters; ``registry.py`` maps names to families;
``reference.py`` holds the forecast wrappers (``LastValueReference``).
"""

from models._head import quantile_outputs
from models._params import ModelParamError, count_params, format_layer_sizes, parse_layer_sizes
from models.recurrent import RecurrentConfig
from models.reference import FutureWindow, LastValueReference, SeasonalReference
from models.registry import FAMILIES, build, config_class
from models.tcn import TCNConfig, receptive_field
from models.transformer import TransformerConfig

__all__ = [
    "FAMILIES",
    "FutureWindow",
    "LastValueReference",
    "ModelParamError",
    "RecurrentConfig",
    "SeasonalReference",
    "TCNConfig",
    "TransformerConfig",
    "build",
    "config_class",
    "count_params",
    "format_layer_sizes",
    "parse_layer_sizes",
    "quantile_outputs",
    "receptive_field",
]
