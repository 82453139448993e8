"""MSRResNet (BasicSR `srresnet_arch.py`; the ESRGAN repo's `SRResNet_arch.py`) checkpoints.

Wang et al., "ESRGAN", ECCVW 2018 (the modified SRResNet without batch norm);
XPixelGroup/BasicSR `basicsr/archs/srresnet_arch.py` `MSRResNet`, released as
`001_MSRResNet_x4_f64b16_DIV2K_1000k_B16G1_wandb/models/net_g_1000000.pth`
(`params`). Layout:

    conv_first                 conv 3 -> F (LeakyReLU 0.1)
    body.{i}.conv1 / conv2     ResidualBlockNoBN (ReLU between, res_scale 1)
    upconv1 (, upconv2)        conv F -> 4F (x2, twice at x4) or 9F (x3), PixelShuffle, LeakyReLU 0.1
    conv_hr, conv_last         conv F -> F (LeakyReLU 0.1), conv F -> 3; plus the bilinear-upsampled input

keras-sr's `srresnet` variant "msrresnet" is this network; the upconvs' output
channels are permuted from PixelShuffle's order to depth_to_space's.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("net_g_1000000.pth")    # srresnet (msrresnet), scale 4, 16 blocks
    >>> model.count_params()                              # 1,517,571
"""

from keras_sr.convert.registry import indices, load_conv, register_converter
from keras_sr.layers.subpixel_upsampling import pytorch_to_dcr_permutation, upsampling_steps

__all__ = ["detect", "load"]


def detect(state):
    if not (state.has("conv_first.weight") and state.has("body.0.conv1.weight") and state.has("upconv1.weight")
            and state.has("conv_hr.weight")):
        return None
    filters = state.shape("conv_first.weight")[0]
    up1 = state.shape("upconv1.weight")[0]
    if state.has("upconv2.weight"):
        scale = 4
    elif up1 == 9 * filters:
        scale = 3
    else:
        scale = 2
    blocks = indices(state, "body.")
    return {"model": "srresnet", "config": {"scale": scale, "variant": "msrresnet", "num_blocks": max(blocks) + 1,
                                            "filters": filters}}


def load(model, state, config):
    load_conv(model.get_layer("conv_first"), state, "conv_first")
    for i in range(config["num_blocks"]):
        block = model.get_layer(f"block_{i}")
        load_conv(block.conv1, state, f"body.{i}.conv1")
        load_conv(block.conv2, state, f"body.{i}.conv2")
    for index, r in enumerate(upsampling_steps(config["scale"])):
        load_conv(model.get_layer(f"upconv_{index}"), state, f"upconv{index + 1}",
                  out_permutation=pytorch_to_dcr_permutation(config["filters"], r))
    load_conv(model.get_layer("conv_hr"), state, "conv_hr")
    load_conv(model.get_layer("conv_last"), state, "conv_last")
    return model


register_converter("msrresnet", detect, load, priority=10)
