"""Write docs/images/synthetic_contact_sheet.png: 64 built-in portraits (seed 0), 8x8.

Run from the repository root: `PYTHONPATH=. .venv/bin/python docs/make_contact_sheet.py`.
"""

from pathlib import Path

import numpy as np

from dcgan.data.images import image_grid
from dcgan.data.synthetic import render_portrait

if __name__ == "__main__":
    faces = np.stack([np.asarray(render_portrait(0, i, 96)) for i in range(64)])
    out = Path(__file__).parent / "images" / "synthetic_contact_sheet.png"
    image_grid(faces, columns=8).save(out, optimize=True)
    print(out)
