"""Published PSNR (dB, Y channel, border = scale) that keras-sr runs are compared with.

Transcribed from the project's reference table (`shared/reference/standard_tables.md`,
itself from the papers and the seed's 91/291-image reproductions). Keys:
registry model name -> list of reference rows; each row names its source and
training set and maps scale -> dataset -> PSNR. `tools.make_table` puts the
first row whose training set matches a run beside that run's numbers (the
seed's reproduced rows first: they are the issue's gates).

Example:
    >>> reference_row("fsrcnn", "T91")["label"]
    'FSRCNN, 91 images (seed reproduction)'
    >>> reference_row("fsrcnn", "T91")["psnr"][3]["Set5"]
    33.05
"""

__all__ = ["DATASETS", "PUBLISHED", "reference_row"]

DATASETS = ("Set5", "Set14", "BSD100", "Urban100")


def _row(label, train, **scales):
    psnr = {}
    for key, values in scales.items():
        psnr[int(key[1:])] = {name: value for name, value in zip(DATASETS, values) if value is not None}
    return {"label": label, "train": train, "psnr": psnr}


PUBLISHED = {
    "bicubic": [_row("bicubic (published)", None, x2=(33.66, 30.24, 29.56, 26.88), x3=(30.39, 27.55, 27.21, 24.46),
                     x4=(28.42, 26.00, 25.96, 23.14))],
    "srcnn": [
        _row("SRCNN 9-5-5, 91 images (seed reproduction)", "T91", x2=(36.55, 32.33, 31.32, 29.05),
             x3=(32.18, 28.84, 28.24, 25.38), x4=(30.34, 27.37, 26.81, 24.33)),
        _row("SRCNN (paper, ImageNet)", "ImageNet", x2=(36.66, 32.45, 31.36, 29.50), x3=(32.75, 29.30, 28.41, 26.24),
             x4=(30.48, 27.50, 26.90, 24.52)),
    ],
    "fsrcnn": [
        _row("FSRCNN, 91 images (seed reproduction)", "T91", x2=(36.96, 32.48, 31.42, 29.30),
             x3=(33.05, 29.33, 28.47, 26.61), x4=(30.66, 27.43, 26.93, 24.50)),
        _row("FSRCNN (paper, 91 + General-100)", "T91+General100", x2=(37.05, 32.66, 31.53, 29.88),
             x3=(33.18, 29.37, 28.53, 26.43), x4=(30.72, 27.61, 26.98, 24.62)),
    ],
    "espcn": [_row("ESPCN, 91 images (seed reproduction)", "T91", x2=(36.44, 32.15, 31.13, None),
                   x3=(32.45, 29.00, 28.20, None), x4=(30.07, 27.11, 26.71, None))],
    "vdsr": [
        _row("VDSR, 291 images (seed reproduction)", "291", x2=(37.46, 32.84, 31.81, 30.18),
             x3=(33.67, 29.76, 28.81, 26.09), x4=(31.33, 27.98, 27.26, 25.15)),
        _row("VDSR (paper, 291)", "291", x2=(37.53, 33.05, 31.90, 30.77), x3=(33.67, 29.78, 28.83, 27.14),
             x4=(31.35, 28.01, 27.29, 25.18)),
    ],
    "drcn": [_row("DRCN (paper, 91)", "T91", x2=(37.63, 33.04, 31.85, 30.75), x3=(33.82, 29.76, 28.80, 27.15),
                  x4=(31.53, 28.02, 27.23, 25.14))],
    "drrn": [
        _row("DRRN, 291 images (seed reproduction)", "291", x2=(37.68, 33.04, 31.97, 31.49),
             x3=(34.05, 29.87, 28.92, 27.66), x4=(31.69, 28.16, 27.37, 25.48)),
        _row("DRRN (paper, 291)", "291", x2=(37.74, 33.23, 32.05, 31.23), x3=(34.03, 29.96, 28.95, 27.53),
             x4=(31.68, 28.21, 27.38, 25.44)),
    ],
    "lapsrn": [_row("LapSRN (paper, 291)", "291", x2=(37.52, 33.08, 31.80, 30.41), x4=(31.54, 28.19, 27.32, 25.21))],
    # DIV2K-trained ceilings (x4): keras-sr has no DIV2K, so these are not gates.
    # EDSR-baseline x2/x3: the EDSR paper's Table 3 (Lim et al., CVPRW 2017); the project's table lists x4 only.
    "edsr": [_row("EDSR-baseline (paper, DIV2K)", "DIV2K", x2=(37.99, 33.57, 32.16, 31.98),
                  x3=(34.37, 30.28, 29.09, 28.15), x4=(32.09, 28.58, 27.57, 26.04))],
    "rdn": [_row("RDN (paper, DIV2K)", "DIV2K", x4=(32.47, 28.81, 27.72, 26.61))],
    "rcan": [_row("RCAN (paper, DIV2K)", "DIV2K", x4=(32.63, 28.87, 27.77, 26.82))],
    "rrdbnet": [_row("RRDBNet PSNR (paper, DIV2K)", "DIV2K", x4=(32.60, 28.88, 27.76, 26.73))],
}


def reference_row(model, train=None):
    """The first published row of `model` (for training set `train` when one matches), or None."""
    rows = PUBLISHED.get(model, [])
    for row in rows:
        if train is not None and row["train"] == train:
            return row
    return rows[0] if rows else None
