"""Write the README's demo figures from the bundled generator (assets/demo).

- demo_grid.png: seeds 0-63, each portrait Lanczos-upscaled to 128 px (look for recurring
  faces here);
- demo_portraits.png: seeds 0-7 at 256 px, Lanczos (what Explore shows, at half its size);
- demo_interpolation.gif: a slerp through five seeds, 128 px.

Run from the repository root: `PYTHONPATH=. .venv/bin/python docs/make_demo_figures.py`.
"""

from pathlib import Path

import numpy as np

from dcgan.data.images import image_grid
from dcgan.explore.export import gif_bytes, load_demo_generator, png_bytes, upscale
from dcgan.explore.latent import interpolate, z_from_seeds


def lanczos_grid(images: np.ndarray, size: int, columns: int) -> bytes:
    big = np.stack([np.asarray(upscale(image, size, "lanczos")) for image in images])
    return png_bytes(image_grid(big, columns=columns, pad=4), compress_level=9)


if __name__ == "__main__":
    out = Path(__file__).parent / "images"
    demo = load_demo_generator()
    (out / "demo_grid.png").write_bytes(lanczos_grid(demo.from_seeds(list(range(64))), 128, 8))
    (out / "demo_portraits.png").write_bytes(
        lanczos_grid(demo.from_seeds(list(range(8))), 256, 4))
    keys = z_from_seeds([3, 11, 27, 40, 3], demo.latent_dim)
    frames = demo.images(interpolate(keys, 48, "slerp"))
    (out / "demo_interpolation.gif").write_bytes(gif_bytes(frames, fps=12, size=128,
                                                           boomerang=False))
    print(*(out / n for n in ("demo_grid.png", "demo_portraits.png", "demo_interpolation.gif")))
