"""DCGAN Portrait Studio: prepare portrait datasets, train a DCGAN, explore its latent space.

Importing this package is cheap: TensorFlow is imported lazily by the modules that need it.
"""

__version__ = "0.1.0"
