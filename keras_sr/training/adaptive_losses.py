"""Losses of the input-adaptive networks: ClassSR's class and average losses, SMSR's sparsity regularization.

Multi-output losses `loss(hr, outputs_dict, step) -> scalar` for
`keras_sr.training.multi_output.MultiOutputTrainer` (the engine wraps the
network when a recipe defines `training_loss()`); pixel terms are
`keras_sr.training.losses` losses on 0-255 images.

* `ClassSRLoss` (Kong et al., CVPR 2021, Sec. 3.3; official
  `codes/models/loss.py`, `ClassSR_Model.optimize_parameters`):
  `w_pix L1(sr, hr) + w_class L_class + w_avg L_avg` with, for the softmax
  probabilities `p` of a batch of n sub-images and K classes,
  `L_class = mean_i (K - 1 - sum_{j<k} |p_ij - p_ik|)` (pushes each sub-image
  to one class) and `L_avg = sum_k |sum_i p_ik - n / K| / (4 n / K)` (keeps the
  classes equally used; the official normalization). `pixel_weight` multiplies
  the L1 of [0, 1] intensities (here computed in pixel units and divided by
  255): the official FSRCNN config's `l1w: 1000` on [0, 1] images; its RCAN
  config's `l1w: 4` is on [0, 255] images, i.e. 1020 here.
* `BranchLoss`: the mean L1 of every branch output (`"sr_branch_1"` ...), to
  pre-train the branches of a ClassSR model together (see recipes/classsr.py).
* `SparsityLoss` (Wang et al., CVPR 2021, Sec. 3.3; official `trainer.py`):
  `L1(sr, hr) + lambda(t) mean(sparsity)` with
  `lambda(t) = lambda0 min(t / warmup_epochs, 1)`, t the epoch counted from
  0 (`floor(step / epoch_steps)`), lambda0 = 0.1, 50 warm-up epochs.

Example:
    >>> ClassSRLoss(pixel_weight=1000)(hr, {"sr": sr, "class_probabilities": p})
    >>> SparsityLoss(epoch_steps=1000)(hr, {"sr": sr, "sparsity": s}, step=5000)
"""

from keras import ops

from keras_sr.training.losses import L1Loss

__all__ = ["class_loss", "average_loss", "ClassSRLoss", "BranchLoss", "SparsityLoss"]


def class_loss(probabilities):
    """ClassSR's class loss: `mean_i (K - 1 - sum_{j<k} |p_ij - p_ik|)`."""
    p = ops.cast(probabilities, "float32")
    k = p.shape[-1]
    spread = 0.0
    for a in range(k):
        for b in range(a + 1, k):
            spread = spread + ops.abs(p[:, a] - p[:, b])
    return ops.mean(float(k - 1) - spread)


def average_loss(probabilities):
    """ClassSR's average loss: `sum_k |sum_i p_ik - n/K| / (4 n / K)` over a batch of n."""
    p = ops.cast(probabilities, "float32")
    k = p.shape[-1]
    n = ops.cast(ops.shape(p)[0], "float32")
    target = n / float(k)
    return ops.sum(ops.abs(ops.sum(p, axis=0) - target)) / (target * 4.0)


class ClassSRLoss:
    """`pixel_weight * L1_[0,1](sr, hr) + class_weight * L_class + average_weight * L_avg` (official 1000, 0.5, 3)."""

    def __init__(self, pixel_weight=1000.0, class_weight=0.5, average_weight=3.0):
        self.pixel_weight, self.class_weight = float(pixel_weight), float(class_weight)
        self.average_weight = float(average_weight)
        self.pixel = L1Loss()

    def __call__(self, y_true, outputs, step=None):
        for key in ("sr", "class_probabilities"):
            if key not in outputs:
                raise ValueError(f"ClassSRLoss needs the {key!r} output; got {sorted(outputs)} "
                                 "(build classsr with intermediate_outputs=True).")
        p = outputs["class_probabilities"]
        return (self.pixel_weight / 255.0 * self.pixel(y_true, outputs["sr"])
                + self.class_weight * class_loss(p) + self.average_weight * average_loss(p))


class BranchLoss:
    """Mean L1 (pixel units) of every `"sr_branch_k"` output: the branches trained side by side."""

    def __init__(self):
        self.pixel = L1Loss()

    def __call__(self, y_true, outputs, step=None):
        keys = sorted(k for k in outputs if k.startswith("sr_branch_"))
        if not keys:
            raise ValueError(f"BranchLoss needs 'sr_branch_1' ... outputs; got {sorted(outputs)}.")
        return sum(self.pixel(y_true, outputs[k]) for k in keys) / float(len(keys))


class SparsityLoss:
    """SMSR's loss: `L1(sr, hr) + lambda0 * min(floor(step / epoch_steps) / warmup_epochs, 1) * mean(sparsity)`."""

    def __init__(self, lambda0=0.1, warmup_epochs=50, epoch_steps=1000):
        self.lambda0, self.warmup_epochs, self.epoch_steps = float(lambda0), int(warmup_epochs), int(epoch_steps)
        self.pixel = L1Loss()

    def weight(self, step):
        epoch = ops.floor(ops.cast(step, "float32") / float(self.epoch_steps))
        return self.lambda0 * ops.minimum(epoch / float(max(self.warmup_epochs, 1)), 1.0)

    def __call__(self, y_true, outputs, step=0):
        for key in ("sr", "sparsity"):
            if key not in outputs:
                raise ValueError(f"SparsityLoss needs the {key!r} output; got {sorted(outputs)} "
                                 "(build smsr with intermediate_outputs=True).")
        sparsity = ops.mean(ops.cast(outputs["sparsity"], "float32"))
        return self.pixel(y_true, outputs["sr"]) + self.weight(step) * sparsity
