"""Data sources and loaders: image folders, the embedded default set, patch sampling, the TensorFlow-free PyDataset."""
