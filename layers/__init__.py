"""Keras layers of keras-sr (installed as `keras_sr.layers`), `keras.ops` only.

Every layer is registered for serialization under the package name "keras_sr".
"""
