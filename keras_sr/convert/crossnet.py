"""CrossNet from `MultiscaleWarpingNet` state dicts (htzheng/ECCV2018_CrossNet_RefSR `CP<step>.pth`) -> `crossnet`.

Zheng et al., "CrossNet: An End-to-end Reference-based Super Resolution
Network using Cross-scale Warping", ECCV 2018; official code
`Model/MultiscaleWarpingNet.py`, `FlowNet_model.py`, `net_utils.py`;
`train_multi_warping.py` saves `net.state_dict()` as `CP<step>.pth` (a plain dict;
the repository's README names its training checkpoint `CP195000.pth` but links
no released file). Layout:

    FlowNet.conv{1,2,3,3_1,4,4_1,5,5_1,6,6_1}.0    stride-2 / 1 convs (LeakyReLU 0.1)  -> flownet flow_conv*
    FlowNet.flow{6..1}.0, FlowNet.flow{6..1}_up     flow convs, 4x4 ConvTranspose2d     -> flow_flow{l}, flow_flow{l}_up
    FlowNet.deconv{5..0}.0                           4x4 ConvTranspose2d (LeakyReLU)     -> flow_deconv{l}
    FlowNet.concat0_conv{1,2}.0, FlowNet.flow_12.0   the full-resolution flow            -> flow_concat0_conv*, flow_flow_12
    Encoder.layer_f.0, Encoder.conv{1..4}.0          shared SELU encoder                 -> encoder enc_layer_f, enc_conv*
    UNet_decoder_2.warp_deconv{4,3,2}.0, post_fusion1.0, final.0    -> dec_warp_deconv*, dec_post_fusion1, dec_final
    UNet_decoder_2.post_fusion2.0                    built but never used by the official forward pass: checked
                                                     (a 5x5 F -> F conv) and skipped by name

Detected: FlowNet's six widths and the encoder/decoder features (the refinement widths 256, 256,
128, 64, 64, 64 are fixed, as official). The converted network equals the official module run with
the same image as `input_img1_LR` (flow) and `input_img1_SR` (encoder): keras-sr's CrossNet feeds
its `lr_up` to both, where the paper feeds an MDSR x4 image to the encoder.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("CP195000.pth")       # crossnet, FlowNet 64 ... 1024, 64 features
    >>> model.count_params()                           # 35,081,377 (the official 35,183,841 less post_fusion2)
"""

from keras_sr.convert.masa_sr import load_conv_transpose
from keras_sr.convert.registry import load_conv, register_converter

__all__ = ["detect", "load", "FLOW_CONVS"]

FLOW_CONVS = ("conv1", "conv2", "conv3", "conv3_1", "conv4", "conv4_1", "conv5", "conv5_1", "conv6", "conv6_1")


def detect(state):
    if not (state.has("FlowNet.conv1.0.weight") and state.has("UNet_decoder_2.final.0.weight")):
        return None
    widths = [state.shape(f"FlowNet.{name}.0.weight")[0] for name in ("conv1", "conv2", "conv3", "conv4", "conv5",
                                                                        "conv6")]
    return {"model": "crossnet", "config": {"scale": 4, "flow_widths": widths,
                                            "features": state.shape("Encoder.layer_f.0.weight")[0]}}


def load(model, state, config):
    flownet = model.get_layer("flownet")
    for name in FLOW_CONVS:
        load_conv(flownet.get_layer(f"flow_{name}"), state, f"FlowNet.{name}.0")
    for level in range(6, 0, -1):
        load_conv(flownet.get_layer(f"flow_flow{level}"), state, f"FlowNet.flow{level}.0")
        load_conv_transpose(flownet.get_layer(f"flow_flow{level}_up"), state, f"FlowNet.flow{level}_up")
        load_conv_transpose(flownet.get_layer(f"flow_deconv{level - 1}"), state, f"FlowNet.deconv{level - 1}.0")
    for name in ("concat0_conv1", "concat0_conv2"):
        load_conv(flownet.get_layer(f"flow_{name}"), state, f"FlowNet.{name}.0")
    load_conv(flownet.get_layer("flow_flow_12"), state, "FlowNet.flow_12.0")
    encoder = model.get_layer("encoder")
    for name in ("layer_f", "conv1", "conv2", "conv3", "conv4"):
        load_conv(encoder.get_layer(f"enc_{name}"), state, f"Encoder.{name}.0")
    for name in ("warp_deconv4", "warp_deconv3", "warp_deconv2"):
        load_conv_transpose(model.get_layer(f"dec_{name}"), state, f"UNet_decoder_2.{name}.0")
    load_conv(model.get_layer("dec_post_fusion1"), state, "UNet_decoder_2.post_fusion1.0")
    load_conv(model.get_layer("dec_final"), state, "UNet_decoder_2.final.0")
    f = config["features"]
    state.take("UNet_decoder_2.post_fusion2.0.weight", shape=(f, f, 5, 5))  # unused by the official forward
    state.take("UNet_decoder_2.post_fusion2.0.bias", shape=(f,))
    return model


register_converter("crossnet", detect, load, priority=20)
