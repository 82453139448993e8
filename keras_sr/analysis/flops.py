"""Multiply-accumulates (MACs) of a built Keras model, counted layer by layer from one traced call.

`count_macs(model, input_shape)` calls the model once on zeros of
`(1, *input_shape)` with every `keras.layers.Layer.__call__` observed, and
counts, from the shapes each call sees:

* `Conv2D`: `H_out W_out k_h k_w (C_in / groups) C_out`;
* `DepthwiseConv2D`: `H_out W_out k_h k_w C_in multiplier`;
* `Conv2DTranspose`: `H_in W_in k_h k_w C_in C_out` (each input pixel's kernel,
  the arithmetic a transposed convolution does; `transposed="output"` counts
  `(s_h H_in)(s_w W_in) k_h k_w C_in C_out` instead, on the nominal output grid,
  as `thop` and the ClassSR paper count: FSRCNN(56, 12, 4) on a 32x32 RGB
  sub-image is then 233,938,944 MACs, the paper's "468M" FLOPs at 2 FLOPs per MAC);
* `Dense`: `(number of input vectors) C_in units`;
* any layer with a `count_macs(input_shapes)` method (e.g.
  `keras_sr.layers.SparseMaskConv`): that method's value, and nothing inside it.

Everything else (activations, pooling, additions, biases, channel attention's
matrix products, resizing) is not counted. Nested models and custom layers are
traced through, so RCAN's residual groups are counted by their convolutions.
One MAC is one multiplication and one addition (2 FLOPs).

Example:
    >>> report = count_macs(models.build("classsr"), (32, 32, 3))
    >>> report.total, report.within("branch_3")       # all, and the large branch alone
    >>> print(report.table())
"""

import dataclasses

import numpy as np

__all__ = ["MacsReport", "count_macs", "layer_macs"]


@dataclasses.dataclass
class MacsReport:
    """Counted layers `[(path, class name, macs)]` in call order, and their total."""

    rows: list

    @property
    def total(self):
        return int(sum(r[2] for r in self.rows))

    def within(self, prefix):
        """MACs of the layers whose path starts with `prefix` (a nested model's or layer's name)."""
        return int(sum(r[2] for r in self.rows if r[0] == prefix or r[0].startswith(prefix + "/")))

    def of_class(self, class_name):
        return int(sum(r[2] for r in self.rows if r[1] == class_name))

    def table(self):
        lines = [f"{'layer':48s} {'class':18s} {'MACs':>15s}"]
        lines += [f"{path:48s} {cls:18s} {macs:15,d}" for path, cls, macs in self.rows]
        lines.append(f"{'total':48s} {'':18s} {self.total:15,d}")
        return "\n".join(lines)


def _shape(x):
    return tuple(int(d) for d in x.shape)


def layer_macs(layer, input_shape, output_shape, transposed="input"):
    """MACs of one call of a counted layer class, or None when the class is not counted."""
    import keras

    if isinstance(layer, keras.layers.Conv2DTranspose):
        kh, kw = layer.kernel_size
        cin, cout = input_shape[-1], layer.filters
        if transposed == "output":
            sh, sw = layer.strides
            return int(np.prod(input_shape[:-3])) * input_shape[-3] * sh * input_shape[-2] * sw * kh * kw * cin * cout
        return int(np.prod(input_shape[:-1])) * kh * kw * cin * cout
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return int(np.prod(output_shape[:-1])) * kh * kw * output_shape[-1]
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        return int(np.prod(output_shape[:-1])) * kh * kw * (input_shape[-1] // layer.groups) * layer.filters
    if isinstance(layer, keras.layers.Dense):
        return int(np.prod(input_shape[:-1])) * input_shape[-1] * layer.units
    return None


def count_macs(model, input_shape=None, inputs=None, transposed="input"):
    """The `MacsReport` of one call of `model` on zeros of shape `(1, *input_shape)` (or on `inputs`).

    Args:
        model: a built Keras model (functional, nested models and custom layers allowed).
        input_shape: `(H, W, C)` of one image (batch 1).
        inputs: the exact inputs to call the model with instead (counts scale with their batch size).
        transposed: "input" (the arithmetic done) or "output" (thop's / the ClassSR paper's count) for
            transposed convolutions.
    """
    import keras

    if transposed not in ("input", "output"):
        raise ValueError(f"transposed must be 'input' or 'output', got {transposed!r}.")
    if inputs is None:
        if input_shape is None:
            raise ValueError("count_macs needs input_shape or inputs.")
        inputs = np.zeros((1, *input_shape), np.float32)
    rows, stack, inside = [], [], [0]
    original = keras.layers.Layer.__call__
    counted = (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.DepthwiseConv2D, keras.layers.Dense)

    def observed(self, *args, **kwargs):
        if inside[0]:
            return original(self, *args, **kwargs)
        custom = callable(getattr(self, "count_macs", None)) and not isinstance(self, keras.Model)
        first = args[0] if args else next(iter(kwargs.values()))
        stack.append(self.name)
        path = "/".join(stack[1:]) if len(stack) > 1 else self.name  # the outermost model's name is left out
        inside[0] += int(custom)
        try:
            outputs = original(self, *args, **kwargs)
        finally:
            inside[0] -= int(custom)
            stack.pop()
        if custom:
            shapes = [_shape(t) for t in first] if isinstance(first, (list, tuple)) else [_shape(first)]
            rows.append((path, type(self).__name__, int(self.count_macs(shapes))))
        elif isinstance(self, counted):
            rows.append((path, type(self).__name__, int(layer_macs(self, _shape(first), _shape(outputs), transposed))))
        return outputs

    keras.layers.Layer.__call__ = observed
    try:
        model(inputs, training=False)
    finally:
        keras.layers.Layer.__call__ = original
    return MacsReport(rows)
