"""Convert released PyTorch checkpoints into registered keras-sr models.

See `keras_sr.convert.registry` for the converter contract. The reading of
`.pth` / `.safetensors` files and `from_checkpoint` live in this package.
"""

from keras_sr.convert.registry import (CheckpointMismatch, StateDict, get_converter, list_converters,
                                       register_converter)

__all__ = ["CheckpointMismatch", "StateDict", "get_converter", "list_converters", "register_converter"]
