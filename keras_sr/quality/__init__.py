"""Image quality metrics beyond PSNR/SSIM, as SR papers report them (numpy unless noted).

* `keras_sr.quality.ifc`: Information Fidelity Criterion (Sheikh, Bovik & de Veciana 2005), full reference.
* `keras_sr.quality.niqe`: NIQE (Mittal, Soundararajan & Bovik 2013), no reference, MATLAB pristine model.
* `keras_sr.quality.lpips`: LPIPS (Zhang et al. 2018), learned perceptual distance; the user supplies the backbone.

Example:
    >>> from keras_sr.quality import ifc, niqe
    >>> ifc.ifc(sr_uint8, hr_uint8, crop_border=4)
    >>> niqe.niqe(sr_uint8, crop_border=4)
"""
