"""Looking inside SR models: Local Attribution Maps (`keras_sr.analysis.lam`).

Example:
    >>> from keras_sr.analysis import lam
    >>> result = lam.local_attribution_map(model, lr, x=120, y=64)
    >>> result.diffusion_index
"""
