"""Real-ESRGAN's U-Net discriminator (`RealESRGAN_x4plus_netD.pth`) -> `unet_discriminator_sn`, for fine-tuning.

Wang et al., "Real-ESRGAN", ICCVW 2021; xinntao/Real-ESRGAN
`realesrgan/archs/discriminator_arch.py` (`UNetDiscriminatorSN`), released beside
the generators as `RealESRGAN_x4plus_netD.pth` and `RealESRGAN_x2plus_netD.pth`
(BasicSR container, key `params`; the official fine-tuning recipe
`options/finetune_realesrgan_x4plus.yml` starts from them). Layout:

    conv0.{weight,bias}                          3x3 conv 3 -> F                    -> conv0
    conv{1..8}.weight_orig                       spectral-normalized convs (no bias) -> conv{i}_sn kernel
    conv{1..8}.weight_u, conv{1..8}.weight_v     the power-iteration vectors          -> conv{i}_sn u, v
    conv9.{weight,bias}                          3x3 conv F -> 1 (logits)            -> conv9

`torch.nn.utils.spectral_norm` keeps the raw weight and its `u` / `v`; keras-sr's
`SpectralNormalization` does the same, so the state is carried over exactly
(`v` reordered from PyTorch's (in, kh, kw) flattening to Keras' (kh, kw, in)):
the first training step of the converted discriminator does what the official
one's would. Detected: num_feat (F). `skip_connection` (official True) leaves no
weights; `skip_connection=False` is an override.

Use: `keras-sr convert RealESRGAN_x4plus_netD.pth --out netD.keras`, then
`python -m recipes.realesrgan --pretrained RealESRGAN_x4plus.keras
--pretrained-discriminator netD.keras ...` fine-tunes both, as the official recipe.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> critic = from_checkpoint("RealESRGAN_x4plus_netD.pth")   # unet_discriminator_sn, F = 64
    >>> critic.count_params()                                    # 4,376,897 trainable (+ u, v)
"""

from keras_sr.convert.registry import assign, conv_kernel, load_conv, register_converter
from keras_sr.layers.spectral_normalization import torch_v_permutation

__all__ = ["detect", "load", "SPECTRAL"]

SPECTRAL = tuple(range(1, 9))


def detect(state):
    if not (state.has("conv0.weight") and state.has("conv1.weight_orig") and state.has("conv9.weight")):
        return None
    if state.shape("conv9.weight")[0] != 1 or state.shape("conv0.weight")[1] != 3:
        return None
    return {"model": "unet_discriminator_sn", "config": {"filters": state.shape("conv0.weight")[0]}}


def load(model, state, config):
    load_conv(model.get_layer("conv0"), state, "conv0")
    for i in SPECTRAL:
        wrapper = model.get_layer(f"conv{i}_sn")
        kernel = wrapper.layer.kernel
        assign(kernel, conv_kernel(state.take(f"conv{i}.weight_orig")), state, f"conv{i}.weight_orig")
        assign(wrapper.u, state.take(f"conv{i}.weight_u"), state, f"conv{i}.weight_u")
        v = state.take(f"conv{i}.weight_v", shape=tuple(wrapper.v.shape))
        assign(wrapper.v, v[torch_v_permutation(tuple(kernel.shape))], state, f"conv{i}.weight_v")
    load_conv(model.get_layer("conv9"), state, "conv9")
    return model


register_converter("unet_discriminator_sn", detect, load, priority=15)
