"""ClassRouting: ClassSR's Class-Module decision applied to its SR branches' outputs.

Kong, Zhao, Qiao, Dong, "ClassSR: A General Framework to Accelerate
Super-Resolution Networks by Data Characteristic", CVPR 2021
(https://arxiv.org/abs/2103.04039), Sec. 3; official code XPixelGroup/ClassSR
`codes/models/archs/classSR_fsrcnn_arch.py` (`forward(x, is_train)`).
In training the output is the softmax-weighted sum of every branch's output
(`out1 * p1 + out2 * p2 + out3 * p3`); at inference each image (sub-image)
goes to the branch of its largest logit (`torch.max(type, 1)[1]`), written
here as the one-hot weighted sum, so a functional model holds both modes. The
FLOPs saving of hard routing comes from running only the chosen branch, which
`keras_sr.routed_inference.classsr_upscale` does over sub-images.

Example:
    >>> route = ClassRouting()
    >>> y = route([logits, y_small, y_medium, y_large], training=False)   # the argmax branch's output
    >>> ClassRouting.from_config(route.get_config())
"""

import keras
from keras import ops

__all__ = ["ClassRouting", "routing_weights"]


def routing_weights(logits, training):
    """`(B, K)` weights: `softmax(logits)` in training, `one_hot(argmax(logits))` at inference."""
    logits = ops.cast(logits, "float32")
    if training:
        return ops.softmax(logits, axis=-1)
    return ops.one_hot(ops.argmax(logits, axis=-1), ops.shape(logits)[-1] if logits.shape[-1] is None
                       else logits.shape[-1], dtype="float32")


@keras.saving.register_keras_serializable(package="keras_sr")
class ClassRouting(keras.layers.Layer):
    """`[logits (B, K), y_1, ..., y_K] -> sum_k w_k y_k` with ClassSR's soft (training) / hard (inference) weights.

    Args:
        stop_branch_gradients: no gradient into the branch outputs (the official `fix_SR_module`: only the
            classifier learns from this output; the model's variables and their order stay the same).
    """

    def __init__(self, stop_branch_gradients=False, **kwargs):
        super().__init__(**kwargs)
        self.stop_branch_gradients = bool(stop_branch_gradients)

    def call(self, inputs, training=False):
        logits, branches = inputs[0], list(inputs[1:])
        if self.stop_branch_gradients:
            branches = [ops.stop_gradient(b) for b in branches]
        if logits.shape[-1] is not None and logits.shape[-1] != len(branches):
            raise ValueError(f"ClassRouting: {logits.shape[-1]} logits for {len(branches)} branch outputs.")
        weights = ops.cast(routing_weights(logits, training), branches[0].dtype)
        out = 0
        for k, branch in enumerate(branches):
            w = ops.reshape(weights[:, k], (-1,) + (1,) * (len(branch.shape) - 1))
            out = out + w * branch
        return out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update({"stop_branch_gradients": self.stop_branch_gradients})
        return config
