"""SimilarityAwareAlignment: SSEN's reference alignment, three deformable convs steered by a dynamic
offset estimator with non-local blocks.

Shim, Park, Kweon, "Robust Reference-based Super-Resolution with
Similarity-Aware Deformable Convolution", CVPR 2020. **No official code was
released**; this layer follows the paper's text and figures, and every
choice the paper leaves open is marked:

* three deformable convolutions in cascade align the reference features to
  the LR features (the paper's three DCN layers); each one's offsets (and
  modulation masks: DCNv2, `DeformableConv2D`; **choice**, the paper builds
  on deformable convolution without fixing v1/v2 here) are predicted from
  both feature maps, so they depend on the input-reference similarity;
* dynamic offset estimator (one per DCN): `concat(lr, ref) -> conv 3x3 ->
  two stride-2 convs (1/2, 1/4) -> non-local block at 1/4 -> bilinear x2 + skip
  -> conv -> non-local block at 1/2 -> bilinear x2 + skip -> conv`, leaky ReLU
  (0.1) after every conv (**choices**: the depth, the skip sums, the
  activation; the paper specifies a multi-scale estimator with non-local
  blocks). Non-local blocks are used at 1/2 and 1/4 only (**choice**: their
  memory is quadratic in the number of positions);
* deformable groups 8 (**choice**).

Call with `[lr_features, ref_features]`, both `(B, h, w, F)` on the LR grid.
Returns the aligned reference features `(B, h, w, F)`.

Example:
    >>> align = SimilarityAwareAlignment(64, num_dcn=3, deformable_groups=8)
    >>> aligned = align([lr_features, ref_features])
    >>> len(align.dcns)                                             # 3
"""

import keras
from keras import ops

from keras_sr.layers.bilinear_upsampling import bilinear_upsample
from keras_sr.layers.deformable_conv import DeformableConv2D
from keras_sr.layers.non_local_block import NonLocalBlock

__all__ = ["SimilarityAwareAlignment"]


@keras.saving.register_keras_serializable(package="keras_sr")
class SimilarityAwareAlignment(keras.layers.Layer):
    """SSEN: `num_dcn` cascaded deformable convs, each steered by a multi-scale non-local offset estimator.

    Args:
        filters: `F`, channels of both feature maps.
        num_dcn: deformable convolutions in cascade (3 in SSEN).
        deformable_groups: of each deformable conv (8; must divide `F`).
        negative_slope: of the leaky ReLUs (0.1).
        kernel_initializer: for the estimator convs.
    """

    def __init__(self, filters, num_dcn=3, deformable_groups=8, negative_slope=0.1,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.num_dcn = int(num_dcn)
        self.deformable_groups = int(deformable_groups)
        self.negative_slope = float(negative_slope)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        f = self.filters

        def conv(name, strides=1):
            return keras.layers.Conv2D(f, 3, strides=strides, padding="same", kernel_initializer=self.kernel_initializer,
                                       dtype=self.dtype_policy, name=name)

        self.estimators = []
        self.dcns = []
        for i in range(self.num_dcn):
            self.estimators.append({
                "fuse": conv(f"est{i}_fuse"), "down1": conv(f"est{i}_down1", 2), "down2": conv(f"est{i}_down2", 2),
                "nl2": NonLocalBlock(max(1, f // 2), dtype=self.dtype_policy, name=f"est{i}_nonlocal_quarter"),
                "up1": conv(f"est{i}_up1"),
                "nl1": NonLocalBlock(max(1, f // 2), dtype=self.dtype_policy, name=f"est{i}_nonlocal_half"),
                "up0": conv(f"est{i}_up0")})
            self.dcns.append(DeformableConv2D(f, 3, deformable_groups=self.deformable_groups, dtype=self.dtype_policy,
                                              name=f"dcn{i}"))

    def build(self, input_shape):
        lr, ref = input_shape
        f = self.filters
        for shape in (lr, ref):
            if shape[-1] != f:
                raise ValueError(f"SimilarityAwareAlignment({f}) needs {f}-channel features, got {shape[-1]}.")
        feature = (None, None, None, f)
        for est, dcn in zip(self.estimators, self.dcns):
            est["fuse"].build((None, None, None, 2 * f))
            for key in ("down1", "down2", "up1", "up0"):
                est[key].build(feature)
            est["nl2"].build(feature)
            est["nl1"].build(feature)
            dcn.build(feature, offset_features_shape=feature)

    def _act(self, x):
        return ops.leaky_relu(x, self.negative_slope)

    def offset_features(self, index, lr, ref):
        """The estimator `index`'s output `(B, h, w, F)` (the DCN predicts offsets and masks from it)."""
        est = self.estimators[index]
        x0 = self._act(est["fuse"](ops.concatenate([lr, ref], axis=-1)))
        x1 = self._act(est["down1"](x0))
        x2 = est["nl2"](self._act(est["down2"](x1)))
        s1, s0 = ops.shape(x1), ops.shape(x0)
        u1 = bilinear_upsample(x2, 2)[:, :s1[1], :s1[2], :] + x1
        u1 = est["nl1"](self._act(est["up1"](u1)))
        u0 = bilinear_upsample(u1, 2)[:, :s0[1], :s0[2], :] + x0
        return self._act(est["up0"](u0))

    def call(self, inputs):
        lr, ref = inputs
        for i, dcn in enumerate(self.dcns):
            ref = dcn(ref, offset_features=self.offset_features(i, lr, ref))
        return ref

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "num_dcn": self.num_dcn,
                       "deformable_groups": self.deformable_groups, "negative_slope": self.negative_slope,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config
