"""Export: SavedModel signatures and TFLite conversion (TensorFlow-only; import lazily)."""
