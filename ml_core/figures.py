"""Labelled image grids (contact sheets, comparison crops) and matplotlib figures written as PNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def image_grid(rows: list[list[np.ndarray]], labels: list[str], path: Path, cell: int = 128,
               row_labels: list[str] | None = None, captions: list[list[str]] | None = None) -> Path:
    """Write a grid of display-ready RGB images in [0, 1] (each resized to ``cell`` px, nearest) with a header
    row of column labels, optional per-row labels in each row's first cell, and optional per-image captions
    (e.g. a metric) in each image's top-left corner. Returns ``path``."""
    import cv2

    from addon.runtime.files import atomic_output

    def fit(img: np.ndarray) -> np.ndarray:
        img = img[..., :3] if img.ndim == 3 else np.repeat(img[..., None], 3, -1)
        h, w = img.shape[:2]
        size = (cell, max(1, round(cell * h / w)))
        return cv2.resize(np.ascontiguousarray(img, np.float32), size, interpolation=cv2.INTER_NEAREST)

    columns = max(len(r) for r in rows)
    body = []
    for i, row in enumerate(rows):
        tiles = [fit(t) for t in row]
        height = max(t.shape[0] for t in tiles)
        strip = np.ones((height, cell * columns, 3), np.float32)
        for j, t in enumerate(tiles):
            strip[:t.shape[0], j * cell:(j + 1) * cell] = t
            if captions and captions[i][j]:
                _text(strip, captions[i][j], j * cell + 4, 16, color=(1, 1, 1))
        if row_labels:
            _text(strip, row_labels[i], 4, height - 6, color=(1, 1, 1))
        body.append(strip)
    header = np.ones((22, cell * columns, 3), np.float32)
    for j, label in enumerate(labels):
        _text(header, label, j * cell + 4, 16, width=cell - 8)
    grid = np.concatenate([header] + body, axis=0)
    path = Path(path)
    with atomic_output(path) as tmp:
        cv2.imwrite(tmp, (np.clip(grid, 0, 1)[..., ::-1] * 255 + 0.5).astype(np.uint8))
    return path


def _text(canvas: np.ndarray, text: str, x: int, y: int, color=(0, 0, 0), width: int | None = None) -> None:
    """Draw ``text``; with ``width``, shrink it to fit (long method names in narrow columns)."""
    import cv2

    scale = 0.42
    if width:
        scale = min(scale, scale * width / cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0])
    if color != (0, 0, 0):  # a dark outline keeps light captions readable on any picture
        cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)


def save_figure(fig, path: Path, dpi: int = 110) -> Path:
    """Write a matplotlib figure (laid out tight) to ``path`` as PNG, making its folder, and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
