"""Former home of model loading and upscalers; re-exports them from their layers.

* loading a model from a reference, `model.json`: `keras_sr.models.loading`;
* upscalers (`load_upscaler`, `model_upscaler`, `rgb_or_y`, `model_scale`): `keras_sr.upscalers`.

Nothing inside keras-sr imports this module (tests/test_layering.py places it in
the upscalers layer); it keeps `from keras_sr.models.inference import ...` working.

Example:
    >>> from keras_sr.upscalers import load_upscaler                 # the new home
    >>> up = load_upscaler("edsr_baseline_x4", scale=4)
    >>> sr = up(lr_uint8, 4)
"""

from keras_sr.models.loading import (MODEL_JSON, build_registered_model, load_model, read_model_json,
                                     register_custom_objects, write_model_json)
from keras_sr.upscalers import load_upscaler, model_scale, model_upscaler, rgb_or_y

__all__ = ["rgb_or_y", "load_upscaler", "load_model", "build_registered_model", "register_custom_objects",
           "model_upscaler", "model_scale", "read_model_json", "write_model_json", "MODEL_JSON"]
