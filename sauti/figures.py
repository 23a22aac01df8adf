"""Self-contained HTML report pages (the cube and backtest reports): matplotlib figures as base64 PNG
and the jinja2 templates the pages are rendered from."""

from __future__ import annotations

import base64
import io
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import jinja2
    from matplotlib.figure import Figure


def png_base64(fig: Figure, *, dpi: int = 110) -> str:
    """The figure as a base64-encoded PNG (tight bounding box).

    ``fig`` is a :class:`matplotlib.figure.Figure` made without pyplot (pyplot keeps figures open
    and would change a notebook's backend); it is freed with its last reference.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def page_template(package: str, name: str) -> jinja2.Template:
    """The jinja2 template ``name`` shipped in ``<package>/templates`` (package data), autoescaped.

    >>> page_template("sauti.features", "cube_report.html.j2").render(...)  # doctest: +SKIP
    """
    return _environment(package).get_template(name)


@cache
def _environment(package: str) -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"), autoescape=True, keep_trailing_newline=True
    )
