"""Perceptual, Gram (texture) and adversarial losses of GAN-based SR (SRGAN, ESRGAN), in keras.ops only.

* `PerceptualLoss`: the distance between VGG19 features of the SR and HR
  images at a chosen layer (Johnson et al., ECCV 2016; Ledig et al., SRGAN,
  CVPR 2017, Sec. 2.2.1 "VGG54" = the activation `relu5_4`; Wang et al.,
  ESRGAN, ECCVW 2018, Sec. 3.3: `conv5_4` before the activation). The
  feature extractor is frozen.
* `GramLoss`: the distance between Gram matrices of VGG features (the style /
  texture loss of Gatys et al., CVPR 2016, used for SR by EnhanceNet, Sajjadi
  et al., ICCV 2017, on local patches; BasicSR's `style_weight`), with the
  Gram matrix `F^T F / (C * H * W)` (`gram_matrix`).
* Adversarial losses from discriminator logits: the standard GAN with the
  non-saturating generator loss (Goodfellow et al. 2014; SRGAN's
  `-log D(G(I_LR))`) and the relativistic average GAN (Jolicoeur-Martineau,
  ICLR 2019; ESRGAN Sec. 3.2) `D_Ra(x_r, x_f) = sigmoid(C(x_r) - E[C(x_f)])`.

VGG weights: keras-sr downloads nothing. `weights` is a file made once on a
machine with internet access, in one of the layouts the loader reads:

* a Keras weights file of `keras.applications.VGG19(include_top=False)`:
  `keras.applications.VGG19(weights="imagenet", include_top=False).save_weights("vgg19_imagenet.weights.h5")`,
  or the legacy `.h5` Keras caches (`~/.keras/models/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`);
  these weights expect Caffe preprocessing (BGR, ImageNet mean subtracted, 0-255);
* a `.npz` file as read by `keras_sr.layers.vgg_features.VGGFeatures` (a
  torchvision export, e.g. the weights BasicSR uses); these expect torchvision
  preprocessing (RGB in [0, 1], ImageNet mean/std).

`input_norm="auto"` picks the preprocessing the file's weights were trained
with (`.h5` -> "caffe", `.npz` -> "torch"); inputs are always RGB in
`[0, input_range]` (255). `weights="random"` (or None) keeps a randomly
initialized VGG: for tests only, its "perceptual" loss means nothing.

Loss scales follow the papers' implementations: features of images in the
network's expected range (so BasicSR's / the official ESRGAN weights carry
over), `feature_scale` multiplies the features before the distance (SRGAN
rescales VGG feature maps by 1/12.75).

Example:
    >>> loss = PerceptualLoss("conv5_4", weights="vgg19_imagenet.weights.h5", criterion="l1")   # ESRGAN
    >>> loss(hr, sr)                                    # a scalar; hr, sr: (B, H, W, 3) in [0, 255]
    >>> GramLoss("relu3_1", weights="random")(hr, sr)
    >>> relativistic_discriminator_loss(real_logits, fake_logits)
"""

import os

import keras
from keras import ops
from keras_sr.layers.vgg_features import VGGFeatures, IMAGENET_MEAN, IMAGENET_STD

__all__ = ["VGGFeatureExtractor", "PerceptualLoss", "GramLoss", "gram_matrix", "MissingVGGWeights",
           "vgg_weights_help", "bce_with_logits", "standard_generator_loss", "standard_discriminator_loss",
           "relativistic_generator_loss", "relativistic_discriminator_loss", "adversarial_losses", "CAFFE_BGR_MEAN",
           "resolve_input_norm"]

# keras.applications.vgg19.preprocess_input (mode "caffe"): BGR means on 0-255 pixels.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
INPUT_NORMS = ("auto", "torch", "caffe")
RANDOM = "random"


class MissingVGGWeights(FileNotFoundError):
    """The VGG19 weights file a perceptual loss needs is not given or not found."""


def vgg_weights_help(variant="vgg19"):
    """How to make the ImageNet VGG weights file on a machine with internet access."""
    app = "VGG19" if variant == "vgg19" else "VGG16"
    return (f"the perceptual loss needs ImageNet-trained {app} weights, which keras-sr does not download. Make the "
            f"file once on a machine with internet access:\n"
            f"    python -c \"import keras; keras.applications.{app}(weights='imagenet', include_top=False)"
            f".save_weights('{variant}_imagenet.weights.h5')\"\n"
            f"(or use Keras's cached ~/.keras/models/{variant}_weights_tf_dim_ordering_tf_kernels_notop.h5, or a "
            f"torchvision export as .npz, see keras_sr/layers/vgg_features.py), copy it here and pass "
            f"--vgg-weights {variant}_imagenet.weights.h5 ('--vgg-weights random' trains against an untrained VGG: "
            f"for tests only)")


def resolve_input_norm(weights, input_norm="auto"):
    """The preprocessing of `weights`: "caffe" for Keras `.h5` files, "torch" for `.npz` and random weights."""
    if input_norm not in INPUT_NORMS:
        raise ValueError(f"input_norm must be one of {INPUT_NORMS}, got {input_norm!r}.")
    if input_norm != "auto":
        return input_norm
    if weights is None or weights == RANDOM:
        return "torch"
    return "caffe" if os.fspath(weights).endswith(".h5") else "torch"


def _is_random(weights):
    return weights is None or weights == RANDOM


def _check_weights_path(weights, variant):
    if _is_random(weights):
        return None
    path = os.fspath(weights)
    if not path:
        raise MissingVGGWeights(f"no VGG weights file given: {vgg_weights_help(variant)}")
    if not os.path.isfile(path):
        raise MissingVGGWeights(f"{path}: VGG weights file not found: {vgg_weights_help(variant)}")
    if not (path.endswith(".h5") or path.endswith(".npz")):
        raise ValueError(f"{path}: VGG weights must be a Keras .weights.h5 / .h5 file of keras.applications."
                         f"{'VGG19' if variant == 'vgg19' else 'VGG16'}(include_top=False) or a .npz file "
                         "(keras_sr/layers/vgg_features.py).")
    return path


def _load_keras_applications_weights(vgg, path):
    """Copy the conv weights of a `keras.applications.VGG19/16(include_top=False)` weights file into `vgg`."""
    app_cls = keras.applications.VGG19 if vgg.variant == "vgg19" else keras.applications.VGG16
    app = app_cls(include_top=False, weights=None, input_shape=(None, None, 3))
    try:
        app.load_weights(path)
    except Exception as err:  # noqa: BLE001 - name the file and the expected layout
        raise ValueError(f"{path}: not a weights file of keras.applications.{app_cls.__name__}(include_top=False) "
                         f"({type(err).__name__}: {err}).") from err
    for name, conv in vgg.convs.items():
        block, index = name[4:].split("_")  # "conv5_4" -> block5_conv4
        layer = app.get_layer(f"block{block}_conv{index}")
        kernel, bias = (keras.ops.convert_to_numpy(w) for w in layer.weights)
        if tuple(kernel.shape) != tuple(conv.kernel.shape):
            raise ValueError(f"{path}: {layer.name} has shape {kernel.shape}, {name} needs {tuple(conv.kernel.shape)}.")
        conv.kernel.assign(kernel.astype("float32"))
        conv.bias.assign(bias.astype("float32"))


class VGGFeatureExtractor:
    """A frozen VGG trunk (`keras_sr.layers.vgg_features.VGGFeatures`) with the preprocessing of its weights.

    Args:
        layers: VGG layer names (`"conv5_4"`, `"relu5_4"`, ...; see `vgg_layer_names`).
        weights: a `.weights.h5` / `.h5` (keras.applications layout) or `.npz` file, or "random" / None.
        input_norm: "auto", "torch" (RGB [0, 1], ImageNet mean/std) or "caffe" (BGR, mean subtracted, 0-255).
        variant: "vgg19" or "vgg16".
        input_range: pixel range of the inputs (255).

    Calling it returns `{layer: features}` (float32). `variables` are the
    frozen weights; `__call__(images, variables=values)` runs statelessly on
    those values (the JAX train step passes them explicitly).
    """

    def __init__(self, layers, weights=None, input_norm="auto", variant="vgg19", input_range=255.0):
        self.layers = (layers,) if isinstance(layers, str) else tuple(layers)
        self.weights_path = _check_weights_path(weights, variant)
        self.input_norm = resolve_input_norm(self.weights_path, input_norm)
        self.input_range = float(input_range)
        npz = self.weights_path if self.weights_path and self.weights_path.endswith(".npz") else None
        self.vgg = VGGFeatures(variant, output_layers=self.layers, weights=npz, input_range=self.input_range,
                               dtype="float32", name=f"{variant}_features")
        self.vgg.build((None, None, None, 3))
        if self.weights_path and self.weights_path.endswith(".h5"):
            _load_keras_applications_weights(self.vgg, self.weights_path)
        self.vgg.trainable = False
        self.variant = variant

    @property
    def variables(self):
        """The frozen VGG weights (non-trainable variables, in `stateless_call` order)."""
        return list(self.vgg.non_trainable_variables)

    def _preprocess(self, images):
        x = ops.cast(images, "float32")
        if self.input_norm == "torch":
            return x  # VGGFeatures normalizes by the ImageNet mean/std itself
        # Caffe: BGR minus the mean, in 0-255 units. VGGFeatures computes (x - mean) / std (torchvision's), so feed
        # it std * (caffe input) + mean: the trunk then sees exactly the Caffe-preprocessed image.

        scale = 255.0 / self.input_range
        bgr = ops.flip(x * scale, axis=-1) - ops.convert_to_tensor(CAFFE_BGR_MEAN, "float32")
        mean = ops.convert_to_tensor([m * self.input_range for m in IMAGENET_MEAN], "float32")
        std = ops.convert_to_tensor([s * self.input_range for s in IMAGENET_STD], "float32")
        return bgr * std + mean

    def __call__(self, images, variables=None):
        x = self._preprocess(images)
        if variables is None:
            outputs = self.vgg(x)
        else:
            outputs, _ = self.vgg.stateless_call([], list(variables), x)
        if len(self.layers) == 1:
            outputs = [outputs]
        return dict(zip(self.layers, outputs))


def _distance(a, b, criterion):
    diff = ops.cast(a, "float32") - ops.cast(b, "float32")
    if criterion == "l1":
        return ops.mean(ops.abs(diff))
    if criterion == "l2":
        return ops.mean(ops.square(diff))
    if criterion == "fro":  # BasicSR / C2-Matching: torch.norm(x - y, p="fro") over the whole batch
        return ops.sqrt(ops.sum(ops.square(diff)) + 1e-12)  # + 1e-12: a finite gradient at x == y
    raise ValueError(f"Unknown criterion {criterion!r}; choose l1, l2 or fro.")


def _layer_weights(layer):
    if isinstance(layer, str):
        return {layer: 1.0}
    if isinstance(layer, dict):
        return {str(k): float(v) for k, v in layer.items()}
    return {str(name): 1.0 for name in layer}


class _FeatureLoss:
    """Shared by the perceptual and Gram losses: the layer weights, the criterion and the extractor."""

    def __init__(self, layer, weights, criterion, feature_scale, input_norm, variant, input_range, extractor):
        self.layer_weights = _layer_weights(layer)
        if criterion not in ("l1", "l2", "fro"):
            raise ValueError(f"Unknown criterion {criterion!r}; choose l1, l2 or fro.")
        self.criterion = criterion
        self.feature_scale = float(feature_scale)
        self.extractor = extractor or VGGFeatureExtractor(tuple(self.layer_weights), weights, input_norm, variant,
                                                          input_range)
        missing = [n for n in self.layer_weights if n not in self.extractor.layers]
        if missing:
            raise ValueError(f"the shared VGG extractor has no layer(s) {missing} (it has {self.extractor.layers}).")

    @property
    def variables(self):
        return self.extractor.variables

    def from_features(self, true_features, pred_features):
        """The loss from `{layer: features}` of the HR and SR images (computed once, shared by several losses)."""
        total = 0.0
        for name, weight in self.layer_weights.items():
            total = total + weight * self.distance(true_features[name] * self.feature_scale,
                                                   pred_features[name] * self.feature_scale)
        return total

    def __call__(self, y_true, y_pred, variables=None):
        """The scalar loss of SR images `y_pred` against HR images `y_true` (RGB, [0, input_range])."""
        true_features = self.extractor(ops.stop_gradient(ops.cast(y_true, "float32")), variables)
        pred_features = self.extractor(y_pred, variables)
        true_features = {k: ops.stop_gradient(v) for k, v in true_features.items()}
        return self.from_features(true_features, pred_features)


class PerceptualLoss(_FeatureLoss):
    """`criterion(phi(sr), phi(hr))` for the VGG features `phi` at `layer` (frozen VGG).

    Args:
        layer: a VGG layer name, a list of names (equal weights), or `{name: weight}` (BasicSR's
            `layer_weights`). ESRGAN: "conv5_4" (before the activation); SRGAN's VGG54: "relu5_4".
        weights: the VGG weights file (see the module docstring) or "random".
        criterion: "l1" (ESRGAN / BasicSR), "l2" (mean squared error, SRGAN) or "fro" (the Frobenius norm
            of the feature difference over the whole batch, not a mean: C2-Matching's `criterion: fro`).
        feature_scale: features are multiplied by this before the distance (SRGAN: 1 / 12.75).
        input_norm: "auto", "torch" or "caffe" (see `VGGFeatureExtractor`).
        variant: "vgg19" or "vgg16".
        input_range: pixel range of the images (255).
        extractor: a `VGGFeatureExtractor` to share (its layers must include `layer`).

    Example:
        >>> esrgan = PerceptualLoss("conv5_4", weights="vgg19_imagenet.weights.h5")
        >>> srgan = PerceptualLoss("relu5_4", weights="vgg19_imagenet.weights.h5", criterion="l2",
        ...                        feature_scale=1 / 12.75)
        >>> value = esrgan(hr, sr)
    """

    def __init__(self, layer="conv5_4", weights=None, criterion="l1", feature_scale=1.0, input_norm="auto",
                 variant="vgg19", input_range=255.0, extractor=None):
        super().__init__(layer, weights, criterion, feature_scale, input_norm, variant, input_range, extractor)

    def distance(self, a, b):
        return _distance(a, b, self.criterion)


def gram_matrix(features, patch_size=None):
    """`F^T F / (C * H * W)` per image for features `(B, H, W, C)` -> `(B, C, C)`.

    The normalization of BasicSR's `_gram_mat` (and Gatys et al. up to the
    constant). With `patch_size` p, the Gram matrix of every non-overlapping
    p x p feature patch (EnhanceNet's local texture loss) -> `(B, n, C, C)`,
    normalized by `C * p * p`; H and W must be multiples of p.
    """
    features = ops.cast(features, "float32")
    shape = ops.shape(features)
    b, h, w, c = shape[0], shape[1], shape[2], shape[3]
    if patch_size is None:
        flat = ops.reshape(features, (b, h * w, c))
        return ops.matmul(ops.transpose(flat, (0, 2, 1)), flat) / ops.cast(c * h * w, "float32")
    p = int(patch_size)
    if isinstance(h, int) and isinstance(w, int) and (h % p or w % p):
        raise ValueError(f"gram_matrix: features of {h}x{w} are not a multiple of patch_size {p}.")
    x = ops.reshape(features, (b, h // p, p, w // p, p, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    x = ops.reshape(x, (b, (h // p) * (w // p), p * p, c))
    return ops.matmul(ops.transpose(x, (0, 1, 3, 2)), x) / ops.cast(c * p * p, "float32")


class GramLoss(_FeatureLoss):
    """`criterion(G(phi(sr)), G(phi(hr)))` with `G = gram_matrix` of the VGG features at `layer`.

    Args: as `PerceptualLoss`, plus `patch_size` for local Gram matrices
    (EnhanceNet: 16 x 16 patches of the features). BasicSR's style loss is
    `GramLoss(layers, criterion="l1")` on whole images.

    Example:
        >>> texture = GramLoss({"relu1_1": 0.3, "relu2_1": 1.0}, weights="vgg19_imagenet.weights.h5")
        >>> value = texture(hr, sr)
    """

    def __init__(self, layer="relu3_1", weights=None, criterion="l1", feature_scale=1.0, input_norm="auto",
                 variant="vgg19", input_range=255.0, patch_size=None, extractor=None):
        super().__init__(layer, weights, criterion, feature_scale, input_norm, variant, input_range, extractor)
        self.patch_size = patch_size

    def distance(self, a, b):
        return _distance(gram_matrix(a, self.patch_size), gram_matrix(b, self.patch_size), self.criterion)


# Adversarial losses (from logits) ---------------------------------------------------------------------------------


def bce_with_logits(logits, target):
    """Mean binary cross-entropy of `sigmoid(logits)` against the constant label `target` (stable form)."""
    x = ops.cast(logits, "float32")
    return ops.mean(ops.maximum(x, 0.0) - x * float(target) + ops.log1p(ops.exp(-ops.abs(x))))


def standard_discriminator_loss(real_logits, fake_logits):
    """`-E[log D(x_r)] - E[log(1 - D(x_f))]`, `D = sigmoid(logits)` (the GAN discriminator objective, SRGAN)."""
    return bce_with_logits(real_logits, 1.0) + bce_with_logits(fake_logits, 0.0)


def standard_generator_loss(real_logits, fake_logits):
    """The non-saturating generator loss `-E[log D(G(z))]` (SRGAN's `l_Gen`); `real_logits` is unused."""
    del real_logits
    return bce_with_logits(fake_logits, 1.0)


def relativistic_discriminator_loss(real_logits, fake_logits):
    """RaGAN discriminator loss: `(BCE(C(x_r) - E[C(x_f)], 1) + BCE(C(x_f) - E[C(x_r)], 0)) / 2`.

    ESRGAN Eq. 1 with `D_Ra(x_r, x_f) = sigmoid(C(x_r) - E_xf[C(x_f)])`; the
    halving is that of the official ESRGAN code (`l_d_total = (l_d_real +
    l_d_fake) / 2`), whose loss weights the recipes use.
    """
    real = ops.cast(real_logits, "float32")
    fake = ops.cast(fake_logits, "float32")
    return 0.5 * (bce_with_logits(real - ops.mean(fake), 1.0) + bce_with_logits(fake - ops.mean(real), 0.0))


def relativistic_generator_loss(real_logits, fake_logits):
    """RaGAN generator loss: `(BCE(C(x_r) - E[C(x_f)], 0) + BCE(C(x_f) - E[C(x_r)], 1)) / 2` (ESRGAN Eq. 2)."""
    real = ops.cast(real_logits, "float32")
    fake = ops.cast(fake_logits, "float32")
    return 0.5 * (bce_with_logits(real - ops.mean(fake), 0.0) + bce_with_logits(fake - ops.mean(real), 1.0))


def adversarial_losses(kind):
    """`(generator_loss, discriminator_loss)` for "standard" (SRGAN) or "ragan" (ESRGAN)."""
    table = {"standard": (standard_generator_loss, standard_discriminator_loss),
             "ragan": (relativistic_generator_loss, relativistic_discriminator_loss)}
    if kind not in table:
        raise ValueError(f"Unknown GAN loss {kind!r}; choose standard or ragan.")
    return table[kind]

