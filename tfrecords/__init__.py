"""TFRecord shards for SR data (installed as `keras_sr.tfrecords`). TensorFlow-only: import lazily."""
