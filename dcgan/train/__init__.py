"""The cache -> a trained generator: models, losses, the train step and the epoch loop."""
