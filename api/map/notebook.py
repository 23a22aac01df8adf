"""The service's risk map as one self-contained page, for Jupyter and for files sent offline.

:func:`sauti.api.map.view.build_map` draws the map the service serves at ``/map``; its scripts and
stylesheets are URLs on the Sauti server (``/static/vendor/...``). Here the same page is built and
every one of those files is written *into* the page (scripts and styles inline, images as
``data:`` URIs), so it displays in a notebook or a browser with no server and no network. The
heatmap tile layer is left out (its tiles come from the server); draw the surface with
:func:`sauti.features.read_surface` instead.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from sauti.api.map.view import LOCAL_CSS, LOCAL_JS, build_map
from sauti.api.security import ROLES, Principal
from sauti.api.services.source import DataSource
from sauti.ingest.currency import STALE_AFTER_DAYS
from sauti.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from sauti.store import Workspace

_STATIC_PREFIX = "/static/"
_CSS_URL = re.compile(r"url\((['\"]?)(images/[^)'\"]+)\1\)")
_FAVICON = re.compile(r'<link rel="icon"[^>]*>\s*')


class _ServerlessSource(DataSource):
    """A workspace seen without the server: no tile server, so no heatmap tile layer."""

    @property
    def risk_surface_path(self) -> Path:
        return self.workspace.root / "rasters" / "__no_tile_server__.tif"


@cache
def _static(relative: str) -> bytes:
    return resources.files("sauti.api").joinpath("static", relative).read_bytes()


def _inline_css(relative: str) -> str:
    """A stylesheet with its ``url(images/...)`` references turned into ``data:`` URIs."""
    folder = relative.rsplit("/", 1)[0] + "/" if "/" in relative else ""
    text = _static(relative).decode("utf-8")

    def data_uri(match: re.Match[str]) -> str:
        image = _static(folder + match.group(2))
        return f"url(data:image/png;base64,{base64.b64encode(image).decode('ascii')})"

    return _CSS_URL.sub(data_uri, text)


def _inline(page: str) -> str:
    for _, url in LOCAL_JS:
        relative = url.removeprefix(_STATIC_PREFIX)
        script = _static(relative).decode("utf-8")
        page = page.replace(f'<script src="{url}"></script>', f"<script>{script}</script>")
    for _, url in LOCAL_CSS:
        relative = url.removeprefix(_STATIC_PREFIX)
        style = _inline_css(relative)
        page = re.sub(
            rf'<link rel="stylesheet" href="{re.escape(url)}"\s*/?>',
            lambda _m, style=style: f"<style>{style}</style>",
            page,
        )
    page = _FAVICON.sub("", page)
    if _STATIC_PREFIX in page:
        left = sorted(set(re.findall(r"/static/[^\"')\s]+", page)))
        raise RuntimeError(f"the map page still loads files from the server: {', '.join(left)}")
    return page


def offline_map_html(
    workspace: Workspace, *, role: str = "planner", stale_after_days: int = STALE_AFTER_DAYS
) -> str:
    """The map page for ``workspace`` as the service draws it for ``role``, with nothing to fetch.

    Parameters
    ----------
    workspace : sauti.store.Workspace
        A workspace with localities (and, for colours, scores: ``sauti demo --no-serve``).
    role : {"planner", "analyst", "admin", "reporter"}
        Whose view: a ``planner`` (the default) sees alerts only as counts per locality, never
        their text or points; an ``analyst`` sees alerts at their locality's point.
    stale_after_days : int
        Incident data older than this many days is flagged on the page, as the service does with
        ``SAUTI_STALE_AFTER_DAYS`` (a notebook passes its settings' ``stale_after_days`` to follow it).

    Returns
    -------
    str
        A complete HTML page whose only URLs are ``data:`` URIs.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    # every input explicit: the page reads only this setting, nothing from the environment
    settings = Settings.model_construct(workspace=Path(workspace.root), stale_after_days=stale_after_days)
    source = _ServerlessSource(workspace, settings)
    page, _shown = build_map(source, Principal(user_id=0, name="notebook", role=role))
    return _inline(page)


@dataclass(frozen=True)
class OfflineMap:
    """A self-contained map page that Jupyter shows inline (an ``<iframe srcdoc>``)."""

    html: str
    height: int = 560

    def _repr_html_(self) -> str:
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
            f'style="width:100%;height:{self.height}px;border:none" '
            'sandbox="allow-scripts allow-popups"></iframe>'
        )

    def save(self, path: str | Path) -> Path:
        """Write the page to ``path`` (UTF-8) and return the path."""
        path = Path(path)
        path.write_text(self.html, encoding="utf-8")
        return path


def offline_map(
    workspace: Workspace,
    *,
    role: str = "planner",
    height: int = 560,
    stale_after_days: int = STALE_AFTER_DAYS,
) -> OfflineMap:
    """The service's risk map for ``workspace``, displayable in Jupyter with no server or network.

    Examples
    --------
    >>> from sauti.api.map.notebook import offline_map  # doctest: +SKIP
    >>> offline_map(Workspace("workspace"))  # doctest: +SKIP
    """
    return OfflineMap(
        offline_map_html(workspace, role=role, stale_after_days=stale_after_days), height=height
    )
