"""The training engine shared by every recipe: recipe dataclasses, fit loop, callbacks, checkpoints, distribution."""
