"""Matplotlib figures as base64 PNG for self-contained HTML pages (the cube and backtest reports)."""

from __future__ import annotations

import base64
import io


def png_base64(fig, *, dpi: int = 110) -> str:
    """The figure as a base64-encoded PNG (tight bounding box); the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
