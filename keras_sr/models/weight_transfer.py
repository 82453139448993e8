"""Start a model from another model's weights wherever layer names and shapes agree.

EDSR (Lim et al., "Enhanced Deep Residual Networks for Single Image
Super-Resolution", CVPRW 2017, Sec. 4.2) trains its x3 and x4 models starting
from the trained x2 model: the head and the residual body do not depend on the
scale, only the upsampler does. `transfer_weights(source, target)` does that
for any pair of keras-sr models: every layer of `target` whose name and weight
shapes equal a layer of `source` gets its weights, the others keep their
initialization, and the report says which is which. Recipes expose it as
`--init-from SOURCE` (a preset name, a `.keras` file or a run directory).

Example:
    >>> target = keras_sr.models.build("edsr", scale=2, variant="baseline")
    >>> report = transfer_weights(load_source_model("edsr_baseline_x4"), target)
    >>> report.copied[:2], report.skipped      # (['mean_shift_in', 'head'], [('upsample', 'weight shapes differ ...')])
"""

import dataclasses
import os

from keras_sr.models import presets
from keras_sr.models.loading import load_model


__all__ = ["TransferFrom", "TransferReport", "transfer_weights", "load_source_model", "transfer_from"]


@dataclasses.dataclass(frozen=True)
class TransferFrom:
    """An initialization request: copy matching layers from `source` (preset name, `.keras` file, run dir)."""

    source: str


@dataclasses.dataclass(frozen=True)
class TransferReport:
    """Layers of the target that got the source's weights, and the weighted layers that did not (with why)."""

    copied: list
    skipped: list

    def summary(self):
        text = f"{len(self.copied)} layers copied"
        if self.skipped:
            text += "; kept their initialization: " + ", ".join(f"{name} ({why})" for name, why in self.skipped)
        return text


def _shapes(layer):
    return [tuple(int(d) for d in w.shape) for w in layer.weights]


def transfer_weights(source, target):
    """Copy weights from `source` into `target` layer by layer where names and weight shapes agree.

    Returns a `TransferReport`. Raises ValueError when no weighted layer of
    `target` matches (the models have nothing in common, so the request is
    almost certainly a mistake).
    """
    by_name = {layer.name: layer for layer in source.layers if layer.weights}
    copied, skipped = [], []
    for layer in target.layers:
        if not layer.weights:
            continue
        match = by_name.get(layer.name)
        if match is None:
            skipped.append((layer.name, "not in the source model"))
        elif _shapes(match) != _shapes(layer):
            skipped.append((layer.name, f"weight shapes differ: {_shapes(match)} in the source, {_shapes(layer)} here"))
        else:
            layer.set_weights(match.get_weights())
            copied.append(layer.name)
    if not copied:
        raise ValueError(f"{source.name} and {target.name} share no layer with the same name and weight shapes; "
                         "nothing to transfer.")
    return TransferReport(copied, skipped)


def load_source_model(reference):
    """A trained model from a preset name, a `.keras` file or a run directory (its `final.keras`)."""
    preset = presets.get_preset(reference)
    if preset is not None:
        return presets.load_preset(preset)
    if os.path.isdir(reference):
        path = os.path.join(reference, "final.keras")
        if not os.path.isfile(path):
            raise ValueError(f"{reference}: a run directory without final.keras (the run has not finished; "
                             "pass one of its checkpoints' .keras export or a preset name instead).")
        return load_model(path)
    if reference.endswith(".keras"):
        return load_model(reference)
    available = ", ".join(p.name for p in presets.list_presets()) or "none shipped"
    raise ValueError(f"{reference}: not a preset name ({available}), a .keras file or a run directory.")


def transfer_from(target, reference):
    """`transfer_weights(load_source_model(reference), target)`: the `--init-from` entry point."""
    return transfer_weights(load_source_model(reference), target)
