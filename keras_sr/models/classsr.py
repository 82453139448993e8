"""ClassSR: a Class-Module routes each sub-image to a small, medium or large SR branch.

Kong, Zhao, Qiao, Dong, "ClassSR: A General Framework to Accelerate
Super-Resolution Networks by Data Characteristic", CVPR 2021
(https://arxiv.org/abs/2103.04039); official code XPixelGroup/ClassSR
(`codes/models/archs/classSR_fsrcnn_arch.py`, `classSR_rcan_arch.py`,
`FSRCNN_arch.py`, `codes/models/ClassSR_model.py`), read to match the layout
and count the parameters. x4 only, as the paper and the released code.

* Class-Module (`classifier`, 60,035 parameters): on the sub-image in [0, 1],
  `conv 4x4 stride 4 (128) -> LeakyReLU 0.1 -> 3 x (conv 1x1 (128) -> LeakyReLU
  0.1) -> conv 1x1 (32) -> global average -> Dense(3)`: three logits.
* SR-Module: three branches of the network to accelerate, smallest first
  (`branch_1` ... `branch_3`, nested models).
  - `base="fsrcnn"`: the official ClassSR variant of FSRCNN on RGB [0, 1]:
    `conv 5x5 (d) -> PReLU -> conv 1x1 (12) -> PReLU -> 4 x conv 3x3 (12) ->
    PReLU -> conv 1x1 (d) -> PReLU -> transposed conv 9x9 stride 4` (one
    PReLU slope each; no activation between the mapping convolutions; PyTorch
    `padding=3, output_padding=1`, reproduced by a valid transposed conv and a
    crop of 3 before / 2 after), d = 16 / 36 / 56: 10,755 / 17,635 / 24,515
    parameters (the paper's 10.8K / 17.6K / 24.5K; 112,940 with the
    classifier). This is not keras-sr's `fsrcnn` (the ECCV 2016 layout on Y).
  - `base="rcan"`: keras-sr's `rcan` (10 groups x 20 RCABs, reduction 16)
    with 36 / 50 / 64 channels: 4,940,683 / 9,521,803 / 15,592,355 trainable
    parameters (official 4,940,707 / 9,521,827 / 15,592,379: each also holds
    two 12-parameter MeanShift convs, constants here); 30,114,876 in all
    (official 30,114,948).
* Routing (`keras_sr.layers.ClassRouting`): training, the softmax-weighted sum
  of the three outputs; inference, the output of the argmax branch.

The registered model maps a whole LR image to its SR image (all branches are
evaluated and one is kept, a `sisr` model like any other, e.g. for
`tools.evaluate`). ClassSR's inference runs over 32x32 sub-images with
stride 28 and runs only the chosen branch of each:
`keras_sr.routed_inference.classsr_upscale` does that and counts the
multiply-accumulates saved (`python -m tools.flops_table`).

Example:
    >>> from keras_sr import models
    >>> model = models.build("classsr", base="fsrcnn")          # 112,940 parameters
    >>> sr = model(keras.ops.ones((1, 32, 32, 3)) * 128.0)       # (1, 128, 128, 3), one branch's output
    >>> model.get_layer("classifier").count_params()            # 60,035
"""

import keras

from keras_sr.layers.class_routing import ClassRouting
from keras_sr.models import register
from keras_sr.models.rcan import rcan

__all__ = ["classsr", "classifier_model", "fsrcnn_branch", "BRANCH_WIDTHS", "SCALE"]

SCALE = 4
BRANCH_WIDTHS = {"fsrcnn": (16, 36, 56), "rcan": (36, 50, 64)}


def _official_conv_init():
    """BasicSR's `initialize_weights(net, 0.1)`: Kaiming-normal (fan_in) times 0.1, zero biases."""
    return keras.initializers.VarianceScaling(scale=0.02, mode="fan_in", distribution="untruncated_normal")


def _torch_default_init():
    """PyTorch's default conv / linear init (Kaiming-uniform with a = sqrt(5)): U(+-1/sqrt(fan_in))."""
    return keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform")


def classifier_model(filters=128, features=32, num_classes=3, kernel_initializer=None, name="classifier"):
    """The Class-Module as a functional model: `(B, h, w, 3)` in [0, 255] -> `(B, num_classes)` logits."""
    init = kernel_initializer or _official_conv_init()
    inputs = keras.Input((None, None, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="to_unit_range")(inputs)
    x = keras.layers.Conv2D(filters, 4, strides=4, kernel_initializer=init, name="conv_1")(x)
    x = keras.layers.LeakyReLU(0.1, name="conv_1_lrelu")(x)
    for index in range(2, 5):
        x = keras.layers.Conv2D(filters, 1, kernel_initializer=init, name=f"conv_{index}")(x)
        x = keras.layers.LeakyReLU(0.1, name=f"conv_{index}_lrelu")(x)
    x = keras.layers.Conv2D(features, 1, kernel_initializer=init, name="conv_5")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    logits = keras.layers.Dense(num_classes, kernel_initializer=kernel_initializer or _torch_default_init(),
                                bias_initializer="zeros", name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def fsrcnn_branch(d, s=12, m=4, kernel_initializer=None, name="fsrcnn_branch"):
    """ClassSR's FSRCNN branch (official `FSRCNN_net(3, 4, d, s, m)`): `(B, h, w, 3) -> (B, 4h, 4w, 3)`, [0, 255]."""
    init = kernel_initializer or _official_conv_init()

    def prelu(label):
        return keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2, 3],
                                  name=label)

    inputs = keras.Input((None, None, 3), name="lr")
    x = keras.layers.Rescaling(1.0 / 255.0, name="to_unit_range")(inputs)
    x = prelu("head_prelu")(keras.layers.Conv2D(d, 5, padding="same", kernel_initializer=init, name="head")(x))
    x = prelu("shrink_prelu")(keras.layers.Conv2D(s, 1, kernel_initializer=init, name="shrink")(x))
    for index in range(m):
        x = keras.layers.Conv2D(s, 3, padding="same", kernel_initializer=init, name=f"map_{index + 1}")(x)
    x = prelu("map_prelu")(x)
    x = prelu("expand_prelu")(keras.layers.Conv2D(d, 1, kernel_initializer=init, name="expand")(x))
    x = keras.layers.Conv2DTranspose(3, 9, strides=SCALE, padding="valid", name="deconv",
                                     kernel_initializer=kernel_initializer or _torch_default_init())(x)
    x = keras.layers.Cropping2D(((3, 2), (3, 2)), name="deconv_crop")(x)  # PyTorch padding=3, output_padding=1
    outputs = keras.layers.Rescaling(255.0, name="to_pixel_range", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


@register("classsr", scales=(SCALE,),
          test_config=dict(base="fsrcnn", branch_widths=(2, 3, 4), s=2, m=1, classifier_filters=4,
                           classifier_features=4))
def classsr(scale=SCALE, base="fsrcnn", branch_widths=None, s=12, m=4, num_groups=10, num_blocks=20, reduction=16,
            classifier_filters=128, classifier_features=32, intermediate_outputs=False, freeze_branches=False,
            kernel_initializer=None, rgb_means=None, name=None):
    """Build ClassSR as a functional `keras.Model` on `(None, None, 3)` RGB in [0, 255].

    Args:
        scale: 4 (the only scale of the paper and the official code).
        base: "fsrcnn" or "rcan", the network whose three sizes are the branches.
        branch_widths: the branches' widths, smallest first (FSRCNN d: 16, 36, 56; RCAN channels: 36, 50, 64).
        s, m: FSRCNN shrinking width and mapping layers (12, 4).
        num_groups, num_blocks, reduction: RCAN's groups, RCABs per group and reduction (10, 20, 16).
        classifier_filters, classifier_features: the Class-Module's widths (128, 32).
        intermediate_outputs: False: the SR image. True: a dict with `"sr"` (the routed output),
            `"class_probabilities"` (softmax of the logits, `(B, K)`) and `"sr_branch_1"` ... (each branch's SR; keys
            chosen so that the layers, hence the weights, keep the order of the plain model).
        freeze_branches: no gradient from the routed output into the branches (the official classifier
            stage's `fix_SR_module: true`; a stop-gradient, so the variables are those of the plain model).
        kernel_initializer: None for the official initializations, or one Keras initializer for every layer.
        rgb_means: `base="rcan"` only: one RGB mean in [0, 1] per branch for the RCANs' MeanShift (default
            DIV2K's for each; `keras_sr.convert` sets the released checkpoints' values).
        name: model name (default `classsr_<base>`).
    """
    if int(scale) != SCALE or scale != SCALE:
        raise ValueError(f"ClassSR is x4 only (the paper's and the official code's scale), got scale={scale!r}.")
    if base not in BRANCH_WIDTHS:
        raise ValueError(f"ClassSR base must be one of {sorted(BRANCH_WIDTHS)}, got {base!r}.")
    widths = tuple(int(w) for w in (branch_widths or BRANCH_WIDTHS[base]))
    if len(widths) < 2:
        raise ValueError(f"ClassSR needs at least two branches, got branch_widths={branch_widths!r}.")
    if rgb_means is not None and (base != "rcan" or len(rgb_means) != len(widths)):
        raise ValueError(f"ClassSR rgb_means needs base='rcan' and one mean per branch, got {rgb_means!r}.")
    inputs = keras.Input((None, None, 3), name="lr")
    classifier = classifier_model(classifier_filters, classifier_features, len(widths), kernel_initializer)
    branches = []
    for index, width in enumerate(widths):
        label = f"branch_{index + 1}"
        if base == "fsrcnn":
            branch = fsrcnn_branch(width, s, m, kernel_initializer, name=label)
        else:
            mean = {} if rgb_means is None else {"rgb_mean": tuple(float(v) for v in rgb_means[index])}
            branch = rcan(scale=SCALE, num_groups=num_groups, num_blocks=num_blocks, filters=width,
                          reduction=reduction, kernel_initializer=kernel_initializer or "glorot_uniform", name=label,
                          **mean)
        branches.append(branch)
    logits = classifier(inputs)
    outputs = [branch(inputs) for branch in branches]
    sr = ClassRouting(bool(freeze_branches), name="routing", dtype="float32")([logits, *outputs])
    if intermediate_outputs:
        probabilities = keras.layers.Softmax(name="class_probabilities", dtype="float32")(logits)
        result = {"sr": sr, "class_probabilities": probabilities}
        result.update({f"sr_branch_{i + 1}": y for i, y in enumerate(outputs)})
    else:
        result = sr
    return keras.Model(inputs, result, name=name or f"classsr_{base}")
