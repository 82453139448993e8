"""DeformableConv2D: modulated deformable convolution (DCNv2) in `keras.ops`.

Zhu, Hu, Lin, Dai, "Deformable ConvNets v2: More Deformable, Better Results",
CVPR 2019 (https://arxiv.org/abs/1811.11168). Each kernel tap `k` of each
output pixel `p` samples the input at `p * stride - pad + k * dilation +
offset(p, k)` by bilinear interpolation (zero outside the image, exactly as the
official `dmcn_im2col_bilinear` CUDA kernel) and weights the sample by a
modulation mask in `[0, 1]`. Offsets and masks are predicted by an internal
convolution, zero-initialized (so training starts from a plain convolution with
masks 0.5), on the input itself or on separate `offset_features` (EDVR's and
C2-Matching's "DCN_sep"). Optional `pre_offsets` are added to the learned
offsets, as C2-Matching's dynamic aggregation (`DCN_sep_pre_multi_offset`)
injects the correspondence found by patch matching (Jiang et al., CVPR 2021).
DATSR's variant (Cao et al., ECCV 2022, `DCN_sep_pre_multi_offset_flow_similarity`)
bounds the learned offsets by `max_residue_magnitude * tanh(.)` before the
pre-offsets are added and scales the mask logits by the matching similarity
(`mask_scale`: `sigmoid(logits * similarity)`).

Layouts (channels last), for `G` deformable groups and `K = kh * kw` taps in
row-major order (`k = ky * kw + kx`):

* offsets: `(B, Ho, Wo, G * K * 2)`, ordered `(g, k, [dy, dx])` as DCNv2;
* masks: `(B, Ho, Wo, G * K)`, ordered `(g, k)`;
* the internal conv outputs `G * K * 3` channels: offsets first, then masks
  (DCNv2's `chunk(out, 3)` -> `cat(o1, o2)`, `sigmoid(mask)`);
* pre_offsets: `(B, Ho, Wo, K * 2)` (shared by all groups, C2-Matching) or
  `(B, Ho, Wo, G * K * 2)`, `(k, [dy, dx])`.

Input channel `c` belongs to deformable group `c // (C / G)`. The output grid
is the grid of `offset_features` when given (it may differ from the sampled
input's size), else the usual conv output grid of the input.

Sampling is gather-based: four `keras.ops.take` lookups per tap (one per
bilinear corner) into the flattened input, then one matmul with the kernel
(im2col). Memory is `B * Ho * Wo * K * C` floats for the sampled columns.

Example:
    >>> dcn = DeformableConv2D(64, 3, deformable_groups=8)
    >>> y = dcn(ref_features, offset_features=guide, pre_offsets=pre)   # (B, Ho, Wo, 64)
    >>> deform_conv2d(x, kernel, offsets, masks).shape                  # the functional op
"""

import keras
from keras import ops

__all__ = ["DeformableConv2D", "deform_conv2d", "conv_output_grid"]


def _pair(value, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}.")
    return value


def conv_output_grid(size, kernel, stride, dilation, padding):
    """`(output_size, pad_before)` of a conv along one axis (TensorFlow's SAME/VALID rule).

    `size` may be a Python int or a symbolic scalar.
    """
    effective = dilation * (kernel - 1) + 1
    if padding == "valid":
        return (size - effective) // stride + 1, 0
    out = (size + stride - 1) // stride
    pad_total = ops.maximum((out - 1) * stride + effective - size, 0) if not isinstance(size, int) else max(
        (out - 1) * stride + effective - size, 0)
    return out, pad_total // 2


def deform_conv2d(inputs, kernel, offsets, masks=None, bias=None, strides=1, padding="same", dilation_rate=1,
                  deformable_groups=1):
    """Modulated deformable convolution (DCNv2) with `keras.ops`.

    Args:
        inputs: `(B, H, W, C)`.
        kernel: `(kh, kw, C, F)`, as a `keras.layers.Conv2D` kernel.
        offsets: `(B, Ho, Wo, G * kh * kw * 2)`, `(g, k, [dy, dx])`; the output grid is its grid.
        masks: `(B, Ho, Wo, G * kh * kw)` modulation in `[0, 1]`, or None (all ones: DCNv1).
        bias: `(F,)` or None.
        strides, padding ("same" | "valid"), dilation_rate: as `Conv2D`; they place the sampling
            grid `p * stride - pad_before + k * dilation` on the input.
        deformable_groups: `G`; `C` must be divisible by it.

    Returns:
        `(B, Ho, Wo, F)`.
    """
    kh, kw = int(kernel.shape[0]), int(kernel.shape[1])
    channels, filters = int(kernel.shape[2]), int(kernel.shape[3])
    sh, sw = _pair(strides, "strides")
    dh, dw = _pair(dilation_rate, "dilation_rate")
    groups = int(deformable_groups)
    if channels % groups:
        raise ValueError(f"deform_conv2d: {channels} input channels are not divisible by {groups} deformable groups.")
    taps = kh * kw
    group_channels = channels // groups
    dtype = inputs.dtype

    in_shape = ops.shape(inputs)
    batch, height, width = in_shape[0], in_shape[1], in_shape[2]
    off_shape = ops.shape(offsets)
    out_h, out_w = off_shape[1], off_shape[2]
    _, pad_top = conv_output_grid(height, kh, sh, dh, padding)
    _, pad_left = conv_output_grid(width, kw, sw, dw, padding)

    # Offsets (B, Ho, Wo, G, K, 2) -> (B, Ho, Wo, K, G) per axis, so the sampled columns come out
    # in the kernel's (k, c) order without transposing the big tensor.
    # Sampling positions in float32 whatever the compute dtype (float16 cannot hold x + 0.37 at x = 500).
    offsets = ops.reshape(ops.cast(offsets, "float32"), (batch, out_h, out_w, groups, taps, 2))
    offsets = ops.transpose(offsets, (0, 1, 2, 4, 3, 5))
    if masks is None:
        masks = ops.ones((batch, out_h, out_w, taps, groups), dtype)
    else:
        masks = ops.reshape(ops.cast(masks, dtype), (batch, out_h, out_w, groups, taps))
        masks = ops.transpose(masks, (0, 1, 2, 4, 3))

    tap_y = ops.convert_to_tensor([(k // kw) * dh for k in range(taps)], "float32")
    tap_x = ops.convert_to_tensor([(k % kw) * dw for k in range(taps)], "float32")
    grid_y = ops.cast(ops.arange(out_h) * sh - pad_top, "float32")
    grid_x = ops.cast(ops.arange(out_w) * sw - pad_left, "float32")
    pos_y = grid_y[None, :, None, None, None] + tap_y[None, None, None, :, None] + offsets[..., 0]
    pos_x = grid_x[None, None, :, None, None] + tap_x[None, None, None, :, None] + offsets[..., 1]

    y0 = ops.floor(ops.stop_gradient(pos_y))
    x0 = ops.floor(ops.stop_gradient(pos_x))
    wy1 = pos_y - y0
    wx1 = pos_x - x0
    wy0 = 1.0 - wy1
    wx0 = 1.0 - wx1
    y0 = ops.cast(y0, "int32")
    x0 = ops.cast(x0, "int32")

    # Row of (b, y, x, g) in the input flattened to (B * H * W * G, C / G).
    flat = ops.reshape(inputs, (-1, group_channels))
    b_index = ops.reshape(ops.arange(batch, dtype="int32"), (-1, 1, 1, 1, 1))
    g_index = ops.reshape(ops.arange(groups, dtype="int32"), (1, 1, 1, 1, groups))
    height_i = ops.cast(height, "int32")
    width_i = ops.cast(width, "int32")

    columns = None
    for dy, wy in ((0, wy0), (1, wy1)):
        for dx, wx in ((0, wx0), (1, wx1)):
            yy = y0 + dy
            xx = x0 + dx
            inside = (yy >= 0) & (yy < height_i) & (xx >= 0) & (xx < width_i)
            yy = ops.clip(yy, 0, height_i - 1)
            xx = ops.clip(xx, 0, width_i - 1)
            rows = ((b_index * height_i + yy) * width_i + xx) * groups + g_index
            weight = ops.cast(wy * wx * ops.cast(inside, "float32"), dtype) * masks
            values = ops.take(flat, ops.reshape(rows, (-1,)), axis=0)
            values = ops.reshape(values, (batch, out_h, out_w, taps, groups, group_channels))
            term = values * weight[..., None]
            columns = term if columns is None else columns + term

    columns = ops.reshape(columns, (batch, out_h, out_w, taps * channels))
    outputs = ops.matmul(columns, ops.reshape(kernel, (taps * channels, filters)))
    if bias is not None:
        outputs = outputs + bias
    return outputs


@keras.saving.register_keras_serializable(package="keras_sr")
class DeformableConv2D(keras.layers.Layer):
    """Modulated deformable 2D convolution (DCNv2) with an internal offset/mask predictor.

    Args:
        filters: output channels.
        kernel_size: int or pair (3 in DCNv2 and C2-Matching).
        strides, padding ("same" | "valid"), dilation_rate: as `keras.layers.Conv2D`.
        deformable_groups: groups of input channels sharing one offset field (8 in C2-Matching).
        use_bias: add a bias to the output.
        kernel_initializer, bias_initializer: for the main kernel and bias.
        offset_initializer: for the offset/mask conv kernel and bias ("zeros" as DCNv2).
        max_residue_magnitude: if set, learned offsets are `m * tanh(offsets)` (DATSR: 10).

    Call arguments:
        inputs: `(B, H, W, C)` features that are sampled.
        offset_features: optional `(B, Ho', Wo', C')` features the offsets and masks are
            predicted from (default: `inputs`). Its conv output grid is the output grid.
        pre_offsets: optional `(B, Ho, Wo, K * 2)` or `(B, Ho, Wo, G * K * 2)` offsets
            `(k, [dy, dx])` added to the learned ones (C2-Matching's correspondence).
        mask_scale: optional `(B, Ho, Wo, 1)` factors on the mask logits before the sigmoid (DATSR's
            matching similarity).

    Example:
        >>> dcn = DeformableConv2D(16, 3, deformable_groups=2)
        >>> y = dcn(keras.random.normal((1, 8, 8, 4)))                      # (1, 8, 8, 16)
        >>> y = dcn(x, offset_features=f, pre_offsets=keras.ops.zeros((1, 8, 8, 18)))
    """

    def __init__(self, filters, kernel_size=3, strides=1, padding="same", dilation_rate=1, deformable_groups=1,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 offset_initializer="zeros", max_residue_magnitude=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.max_residue_magnitude = None if max_residue_magnitude is None else float(max_residue_magnitude)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.dilation_rate = _pair(dilation_rate, "dilation_rate")
        padding = str(padding).lower()
        if padding not in ("same", "valid"):
            raise ValueError(f"DeformableConv2D padding must be 'same' or 'valid', got {padding!r}.")
        self.padding = padding
        self.deformable_groups = int(deformable_groups)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.offset_initializer = keras.initializers.get(offset_initializer)
        taps = self.kernel_size[0] * self.kernel_size[1]
        self.conv_offset_mask = keras.layers.Conv2D(
            self.deformable_groups * taps * 3, self.kernel_size, strides=self.strides, padding=self.padding,
            dilation_rate=self.dilation_rate, kernel_initializer=self.offset_initializer,
            bias_initializer=self.offset_initializer, dtype=self.dtype_policy, name="conv_offset_mask")

    def build(self, inputs_shape, offset_features_shape=None, pre_offsets_shape=None, mask_scale_shape=None):
        channels = inputs_shape[-1]
        if channels is None:
            raise ValueError("DeformableConv2D needs a known number of input channels.")
        if channels % self.deformable_groups:
            raise ValueError(f"DeformableConv2D: {channels} input channels are not divisible by "
                             f"{self.deformable_groups} deformable groups.")
        self.kernel = self.add_weight(name="kernel", shape=(*self.kernel_size, channels, self.filters),
                                      initializer=self.kernel_initializer)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)
                     if self.use_bias else None)
        self.conv_offset_mask.build(offset_features_shape if offset_features_shape is not None else inputs_shape)
        taps = self.kernel_size[0] * self.kernel_size[1]
        if pre_offsets_shape is not None and pre_offsets_shape[-1] not in (2 * taps,
                                                                           2 * taps * self.deformable_groups):
            raise ValueError(f"DeformableConv2D pre_offsets need {2 * taps} or {2 * taps * self.deformable_groups} "
                             f"channels, got {pre_offsets_shape[-1]}.")

    def offsets_and_masks(self, inputs, offset_features=None, pre_offsets=None, mask_scale=None):
        """The `(offsets, masks)` the convolution samples with (learned + pre_offsets, sigmoid masks)."""
        taps = self.kernel_size[0] * self.kernel_size[1]
        groups = self.deformable_groups
        out = self.conv_offset_mask(inputs if offset_features is None else offset_features)
        offsets = out[..., :2 * groups * taps]
        if self.max_residue_magnitude is not None:
            offsets = self.max_residue_magnitude * ops.tanh(offsets)
        logits = out[..., 2 * groups * taps:]
        if mask_scale is not None:
            logits = logits * ops.cast(mask_scale, logits.dtype)
        masks = ops.sigmoid(logits)
        if pre_offsets is not None:
            pre_offsets = ops.cast(pre_offsets, offsets.dtype)
            if pre_offsets.shape[-1] == 2 * taps and groups > 1:
                pre_offsets = ops.tile(pre_offsets, (1, 1, 1, groups))
            offsets = offsets + pre_offsets
        return offsets, masks

    def call(self, inputs, offset_features=None, pre_offsets=None, mask_scale=None):
        offsets, masks = self.offsets_and_masks(inputs, offset_features, pre_offsets, mask_scale)
        return deform_conv2d(inputs, self.kernel, offsets, masks, self.bias, strides=self.strides,
                             padding=self.padding, dilation_rate=self.dilation_rate,
                             deformable_groups=self.deformable_groups)

    def compute_output_shape(self, inputs_shape, offset_features_shape=None, pre_offsets_shape=None,
                             mask_scale_shape=None):
        grid_shape = offset_features_shape if offset_features_shape is not None else inputs_shape
        out = []
        for size, k, s, d in zip(grid_shape[1:3], self.kernel_size, self.strides, self.dilation_rate):
            out.append(None if size is None else conv_output_grid(size, k, s, d, self.padding)[0])
        return (inputs_shape[0], out[0], out[1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "dilation_rate": self.dilation_rate,
            "deformable_groups": self.deformable_groups,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "offset_initializer": keras.initializers.serialize(self.offset_initializer),
        })
        if self.max_residue_magnitude is not None:
            config["max_residue_magnitude"] = self.max_residue_magnitude
        return config
