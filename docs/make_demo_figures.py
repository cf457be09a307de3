"""Write the README's demo figures: a 64-seed grid and an interpolation GIF.

Run from the repository root: `PYTHONPATH=. .venv/bin/python docs/make_demo_figures.py`.
"""

from pathlib import Path

from dcgan.export import gif_bytes, grid_png, load_demo_generator
from dcgan.latent import interpolate, z_from_seeds

if __name__ == "__main__":
    out = Path(__file__).parent / "images"
    demo = load_demo_generator()
    (out / "demo_grid.png").write_bytes(grid_png(demo.from_seeds(list(range(64))), 8, 2))
    keys = z_from_seeds([3, 11, 27, 40, 3], demo.latent_dim)
    frames = demo.images(interpolate(keys, 48, "slerp"))
    (out / "demo_interpolation.gif").write_bytes(gif_bytes(frames, fps=12, size=128,
                                                           boomerang=False))
    print(out / "demo_grid.png", out / "demo_interpolation.gif")
