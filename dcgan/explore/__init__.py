"""A trained generator, explored: latent tools, projection, export, bundles, live portrait."""
