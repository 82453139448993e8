"""Training recipes (installed as `keras_sr.recipes`): `python -m recipes.<name>` from the repo root,
`python -m keras_sr.recipes.<name>` from anywhere."""
