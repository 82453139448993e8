"""keras-sr: image super-resolution for Keras 3 (TensorFlow, JAX, PyTorch backends).

Core protocol pieces are importable without TensorFlow:

    >>> from keras_sr import imresize, psnr, ssim
    >>> lr = imresize(hr_uint8, 1 / 4)
    >>> psnr(imresize(lr, 4), hr_uint8, crop_border=4)
"""

from keras_sr.color import rgb2ycbcr, rgb_to_y, ycbcr2rgb
from keras_sr.cropping import modcrop, shave
from keras_sr.imresize import imresize, imresize_ops
from keras_sr.metrics import psnr, ssim

__version__ = "0.1.0"

__all__ = ["imresize", "imresize_ops", "modcrop", "shave", "psnr", "ssim", "rgb2ycbcr", "ycbcr2rgb", "rgb_to_y",
           "upscale"]


def __getattr__(name):
    """Lazy exports: `keras_sr.upscale` imports Keras only when first used."""
    if name == "upscale":
        import importlib

        function = importlib.import_module("keras_sr.tiled_inference").upscale
        globals()["upscale"] = function
        return function
    raise AttributeError(f"module 'keras_sr' has no attribute {name!r}")
