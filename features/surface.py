"""Gridded risk surfaces: recency-weighted kernel density of incidents blended with locality risk.

The surface is an ``xarray.DataArray (y, x)`` on a regular grid in the UTM zone of the unit set's
centre (:func:`sauti.geo.utm_crs`, an EPSG code GIS tools recognise) or, for a region wider than
that zone and its two neighbours, an equal-area projection centred on it (:func:`surface_crs`),
NaN outside the localities,
with ``attrs`` ``crs`` (WKT), ``transform`` (the 6 affine coefficients a, b, c, d, e, f), ``nodata``
(the value the GeoTIFF uses), ``resolution_km``, the parameters, and what the values are
(``quantity``, ``units``, ``description``). It is written as a Cloud-Optimized GeoTIFF (tiled,
deflate-compressed, with overviews, those words as tags and band description) and read back with
CRS, transform and nodata intact.

Only incidents enter the density; alerts reach the surface only through locality scores, so no
alert position can be read off a map.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr

from sauti.constants import DEFAULT_SURFACE, LOCALITY_ID
from sauti.geo import local_crs, utm_crs

if TYPE_CHECKING:  # pragma: no cover
    from sauti.features.periods import DateLike
    from sauti.store import Workspace

NODATA = -9999.0
MAX_PIXELS = 60_000_000
_LOCATED = ("point", "locality")
#: incidents placed on the grid at a time (bounds the copies a continent's incidents would need)
DENSITY_ROWS = 250_000
#: widest distance (degrees of longitude) from the centre zone's central meridian kept in UTM
UTM_MAX_DEGREES = 9.0


def surface_crs(bounds: tuple[float, float, float, float]):
    """The CRS of a surface over ``bounds`` (lon/lat).

    The UTM zone of the centre (:func:`sauti.geo.utm_crs`, an EPSG code) while the extent stays
    within that zone and its two neighbours (at most :data:`UTM_MAX_DEGREES` of longitude from
    its central meridian: scale error ≤ 1.3 %, a country such as the Central African Republic);
    otherwise a Lambert azimuthal equal-area projection centred on the extent
    (:func:`sauti.geo.local_crs`): transverse Mercator far from its meridian inflates areas (≈ 9 %
    at 25° on the equator), and a kernel density per pixel must not grow with the distance from
    an arbitrary meridian.
    """
    minx, miny, maxx, maxy = bounds
    utm = utm_crs(bounds)
    meridian = (utm.to_epsg() % 100) * 6 - 183
    within = max(abs(minx - meridian), abs(maxx - meridian)) <= UTM_MAX_DEGREES
    return utm if within and miny >= -80 and maxy <= 84 else _equal_area_crs(bounds)


def _equal_area_crs(bounds: tuple[float, float, float, float]):
    """:func:`sauti.geo.local_crs` (Lambert azimuthal equal-area centred on ``bounds``) with a name
    saying so (a GIS tool and ``sauti heatmap --json`` show it instead of "unknown")."""
    from pyproj.crs import ProjectedCRS

    local = local_crs(bounds)
    params = {p.name: p.value for p in local.coordinate_operation.params}
    lat0, lon0 = params["Latitude of natural origin"], params["Longitude of natural origin"]
    name = (
        f"WGS 84 / Lambert azimuthal equal-area centred on {abs(lat0):.4f}{'N' if lat0 >= 0 else 'S'} "
        f"{abs(lon0):.4f}{'E' if lon0 >= 0 else 'W'}"
    )
    return ProjectedCRS(conversion=local.coordinate_operation, geodetic_crs=local.geodetic_crs, name=name)


def _grid(bounds: tuple[float, float, float, float], resolution_m: float):
    from rasterio.transform import from_origin

    minx, miny, maxx, maxy = bounds
    minx = math.floor(minx / resolution_m) * resolution_m
    miny = math.floor(miny / resolution_m) * resolution_m
    maxx = math.ceil(maxx / resolution_m) * resolution_m
    maxy = math.ceil(maxy / resolution_m) * resolution_m
    width = max(1, round((maxx - minx) / resolution_m))
    height = max(1, round((maxy - miny) / resolution_m))
    if width * height > MAX_PIXELS:
        raise ValueError(
            f"a {resolution_m / 1000:g} km surface over this area has {width * height:,} pixels "
            f"(limit {MAX_PIXELS:,}); pass a coarser resolution_km"
        )
    return from_origin(minx, maxy, resolution_m, resolution_m), width, height


def recency_weights(dates: pd.Series, until: pd.Timestamp, half_life_days: float) -> np.ndarray:
    """``exp(-age · ln 2 / half_life)`` with age in days before ``until`` (0 for later dates)."""
    days = pd.to_datetime(pd.Series(dates))
    if getattr(days.dt, "tz", None) is not None:
        days = days.dt.tz_convert(None)
    age = (until - days).dt.total_seconds().to_numpy() / 86400.0
    weights = np.exp(-np.clip(age, 0, None) * math.log(2) / half_life_days)
    return np.where(age >= 0, weights, 0.0)


def risk_surface(
    incidents: pd.DataFrame,
    localities: gpd.GeoDataFrame,
    scores: pd.DataFrame | None = None,
    *,
    resolution_km: float = 2.0,
    until: DateLike | None = None,
    half_life_days: float = 90,
    bandwidth_km: float = 25,
    blend: float = 0.5,
    relative_scores: bool = True,
) -> xr.DataArray:
    """A continuous risk surface over ``localities``.

    ``value = blend · density + (1 − blend) · score``, where ``density`` is the Gaussian kernel
    density (bandwidth ``bandwidth_km``) of point- and locality-precise incidents dated up to
    ``until``, each weighted by ``exp(−age · ln2 / half_life_days)``, scaled to [0, 1] by its
    maximum; and ``score`` is the locality's ``probability`` from ``scores`` rasterised (0 for
    localities without a score), divided by the highest probability when ``relative_scores``.
    Without ``scores`` the surface is the scaled density alone. What the values are is named in
    ``attrs`` ``quantity``, ``units`` and ``description`` (see :func:`value_meaning`).

    Parameters
    ----------
    incidents : DataFrame
        ``occurred_on``, ``longitude``, ``latitude`` and optionally ``location_precision``
        (region- and country-precise incidents are left out).
    localities : GeoDataFrame
        Unit set; defines the extent, the CRS (the UTM zone of its centre) and the mask (NaN
        outside every locality).
    scores : DataFrame, optional
        ``locality_id`` and ``probability`` in [0, 1].
    resolution_km : float
        Pixel size.
    until : date-like, optional
        Reference date for ages; later incidents are ignored. Default: the latest incident.
    half_life_days, bandwidth_km, blend : float
    relative_scores : bool
        Divide the scores by their maximum before blending, so both parts are relative risks in
        [0, 1] (probabilities of rare events are small: unscaled, they would vanish beside the
        density). ``attrs["score_peak"]`` keeps the divisor. With ``blend=0`` and
        ``relative_scores=False`` the surface is the locality probability itself.

    Returns
    -------
    xarray.DataArray
        Dims ``(y, x)``, float32, values in [0, 1], NaN outside.
    """
    _check_parameters(localities, resolution_km, half_life_days, bandwidth_km, blend)
    grid = _SurfaceGrid.over(localities, resolution_km)
    # in place, one array of pixels at a time (a continent at 2 km is 7.5 M pixels; same arithmetic)
    value, reference = _incident_density(grid, incidents, until, half_life_days, bandwidth_km)
    peak = float(value.max(where=grid.inside, initial=-np.inf)) if grid.inside.any() else 0.0
    if peak > 0:
        value /= peak
    score_peak = float("nan")
    blended = scores is not None and len(scores) > 0
    if blended:
        risk, score_peak = _score_raster(grid, scores, relative_scores)
        value *= blend
        risk *= 1 - blend
        value += risk
        del risk
    attrs = {
        "crs": grid.crs.to_wkt(),
        "transform": tuple(float(v) for v in tuple(grid.transform)[:6]),
        "nodata": NODATA,
        "resolution_km": float(resolution_km),
        "until": str(reference.date()),
        "half_life_days": float(half_life_days),
        "bandwidth_km": float(bandwidth_km),
        "blend": float(blend) if blended else 1.0,
        "density_peak_per_km2": peak / (resolution_km**2),
        "score_peak": score_peak,
        "relative_scores": int(bool(relative_scores)),
    }
    attrs.update(value_meaning(attrs))
    value[~grid.inside] = np.nan
    return grid.as_dataarray(value.astype(np.float32), attrs)


def _check_parameters(localities, resolution_km, half_life_days, bandwidth_km, blend) -> None:
    if resolution_km <= 0 or bandwidth_km <= 0 or half_life_days <= 0:
        raise ValueError("resolution_km, bandwidth_km and half_life_days must be positive")
    if not 0 <= blend <= 1:
        raise ValueError(f"blend must be within [0, 1], got {blend}")
    if localities.empty:
        raise ValueError("risk_surface needs at least one locality")


@dataclass(frozen=True)
class _SurfaceGrid:
    """The pixels of a surface: localities in the grid's CRS, affine transform, shape, inside mask."""

    units: gpd.GeoDataFrame
    geoms: np.ndarray
    crs: object
    transform: object
    shape: tuple[int, int]
    inside: np.ndarray
    resolution_m: float

    @classmethod
    def over(cls, localities: gpd.GeoDataFrame, resolution_km: float) -> _SurfaceGrid:
        from rasterio.features import rasterize

        units = localities.to_crs("EPSG:4326")
        crs = surface_crs(tuple(units.total_bounds))
        geoms = units.geometry.to_crs(crs).to_numpy()
        resolution = resolution_km * 1000.0
        transform, width, height = _grid(tuple(shapely.total_bounds(geoms)), resolution)
        inside = rasterize(
            ((g, 1) for g in geoms), out_shape=(height, width), transform=transform, fill=0, dtype="uint8"
        )
        return cls(units, geoms, crs, transform, (height, width), inside.astype(bool), resolution)

    def cell_of(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each lon/lat point (may fall outside the grid)."""
        from pyproj import Transformer

        to_grid = Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        x, y = to_grid.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        col = np.floor((np.asarray(x) - self.transform.c) / self.resolution_m).astype(np.int64)
        row = np.floor((self.transform.f - np.asarray(y)) / self.resolution_m).astype(np.int64)
        return row, col

    def as_dataarray(self, values: np.ndarray, attrs: dict) -> xr.DataArray:
        height, width = self.shape
        xs = self.transform.c + (np.arange(width) + 0.5) * self.resolution_m
        ys = self.transform.f - (np.arange(height) + 0.5) * self.resolution_m
        return xr.DataArray(values, dims=("y", "x"), coords={"y": ys, "x": xs}, name="risk", attrs=attrs)


def _incident_density(grid: _SurfaceGrid, incidents, until, half_life_days, bandwidth_km):
    """Recency-weighted Gaussian kernel density of located incidents, and the reference date.

    Only the columns the density reads are kept, and the incidents are placed on the grid
    :data:`DENSITY_ROWS` at a time (``np.add.at`` adds them in the same order as one
    ``np.bincount``: the sums do not depend on the slices).
    """
    from scipy.ndimage import gaussian_filter

    wanted = ["occurred_on", "longitude", "latitude"]
    located = incidents["location_precision"].isin(_LOCATED) if "location_precision" in incidents else None
    events = incidents[wanted] if located is None else incidents.loc[located.to_numpy(), wanted]
    del located
    longitude = pd.to_numeric(events["longitude"], errors="coerce").to_numpy(float)
    events = events[np.isfinite(longitude)]
    del longitude
    dates = pd.to_datetime(events["occurred_on"])
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert(None)
    reference = (
        pd.Timestamp(until) if until is not None else (dates.max() if len(dates) else pd.Timestamp.now())
    )
    height, width = grid.shape
    binned = np.zeros(height * width, dtype=np.float64)
    for lo in range(0, len(events), DENSITY_ROWS):
        part = events.iloc[lo : lo + DENSITY_ROWS]
        weights = recency_weights(dates.iloc[lo : lo + DENSITY_ROWS], reference, half_life_days)
        row, col = grid.cell_of(part["longitude"].to_numpy(float), part["latitude"].to_numpy(float))
        ok = (weights > 0) & (row >= 0) & (row < height) & (col >= 0) & (col < width)
        np.add.at(binned, row[ok] * width + col[ok], weights[ok])
    if not len(events):
        return np.zeros(grid.shape, dtype=np.float64), reference
    sigma = bandwidth_km * 1000.0 / grid.resolution_m
    return gaussian_filter(binned.reshape(grid.shape), sigma=sigma, mode="constant"), reference


def _score_raster(grid: _SurfaceGrid, scores: pd.DataFrame, relative: bool) -> tuple[np.ndarray, float]:
    """Each locality's probability burnt into its pixels (optionally relative to the highest)."""
    from rasterio.features import rasterize

    probability = grid.units[[LOCALITY_ID]].merge(
        scores[[LOCALITY_ID, "probability"]].drop_duplicates(LOCALITY_ID), on=LOCALITY_ID, how="left"
    )["probability"]
    probability = probability.fillna(0.0).clip(0, 1).to_numpy(float)
    score_peak = float(probability.max()) if len(probability) else 0.0
    if relative and score_peak > 0:
        probability = probability / score_peak
    risk = rasterize(
        zip(grid.geoms, probability, strict=True),
        out_shape=grid.shape,
        transform=grid.transform,
        fill=0.0,
        dtype="float64",
    )
    return risk, score_peak


def value_meaning(attrs: dict) -> dict[str, str]:
    """What a surface's values are, from how it was made: ``quantity``, ``label``, ``units``, ``description``.

    Written into the GeoTIFF as tags (and the band description), so a GIS user and the map legend
    read the same words: a relative index is never mistaken for a probability.
    """
    blend = float(attrs.get("blend", 1.0))
    relative = bool(int(attrs.get("relative_scores", 1)))
    peak = attrs.get("score_peak")
    known = isinstance(peak, float) and math.isfinite(peak)
    peak_text = f" (highest locality probability {peak:.2%})" if known else ""
    kernel = (
        f"recent-incident density (Gaussian kernel {attrs.get('bandwidth_km', 0):g} km, "
        f"half-life {attrs.get('half_life_days', 0):g} days, until {attrs.get('until')}) scaled to its peak"
    )
    if blend == 0 and not relative:
        return {
            "quantity": "probability",
            "label": "probability of an intercommunal incident",
            "units": "probability (0-1)",
            "description": "Probability of at least one intercommunal incident in the locality next period"
            + peak_text,
        }
    scores = "locality probability" + (" scaled to the highest" if relative else "") + peak_text
    parts = [(w, text) for w, text in ((blend, kernel), (1 - blend, scores)) if w > 0]
    made = " + ".join(f"{w:g} x {text}" for w, text in parts) if len(parts) > 1 else parts[0][1]
    name = "relative incident density" if blend == 1 else "relative risk index"
    return {
        "quantity": name.replace(" ", "_"),
        "label": f"{name} (not a probability)",
        "units": "relative index (0-1, 1 = highest in this surface; not a probability)",
        "description": f"{name.capitalize()}: {made}. Not a probability.",
    }


def _cog_driver_available() -> bool:
    import rasterio

    with rasterio.Env() as env:
        return "COG" in env.drivers()


def write_cog(surface: xr.DataArray, path: str | Path) -> Path:
    """Write ``surface`` as a Cloud-Optimized GeoTIFF (tiled, deflate, overviews), atomically.

    NaN pixels are written as ``surface.attrs["nodata"]`` (default -9999) and declared as nodata;
    every attribute but ``crs`` and ``transform`` becomes a tag, and ``units``/``description`` also
    the band's unit and description (what ``gdalinfo`` and QGIS show).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(cog_bytes(surface))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def cog_bytes(surface: xr.DataArray) -> bytes:
    """``surface`` as the bytes of a Cloud-Optimized GeoTIFF (what :func:`write_cog` writes)."""
    import rasterio
    import rasterio.shutil
    from affine import Affine
    from rasterio.io import MemoryFile

    nodata = float(surface.attrs.get("nodata", NODATA))
    data = np.asarray(surface.values, dtype=np.float32)
    data = np.where(np.isnan(data), np.float32(nodata), data)
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": "float32",
        "crs": surface.attrs["crs"],
        "transform": Affine(*surface.attrs["transform"][:6]),
        "nodata": nodata,
    }
    with MemoryFile() as memfile, MemoryFile() as out:
        with memfile.open(**profile) as dst:
            dst.write(data, 1)
            dst.update_tags(**{k: str(v) for k, v in surface.attrs.items() if k not in ("crs", "transform")})
            dst.set_band_description(1, str(surface.attrs.get("label", surface.name or "risk")))
            dst.set_band_unit(1, str(surface.attrs.get("units", "")))
        with memfile.open() as src:
            if _cog_driver_available():
                rasterio.shutil.copy(
                    src,
                    out.name,
                    driver="COG",
                    COMPRESS="DEFLATE",
                    PREDICTOR="YES",
                    BLOCKSIZE=256,
                    OVERVIEWS="AUTO",
                    RESAMPLING="AVERAGE",
                )
            else:  # pragma: no cover - GDAL < 3.1
                _write_tiled_with_overviews(src, out.name)
        out.seek(0)
        return out.read()


def _write_tiled_with_overviews(src, path) -> None:  # pragma: no cover - old GDAL only
    import rasterio
    from rasterio.enums import Resampling

    profile = src.profile | {"tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(src.read(1), 1)
        factors = [f for f in (2, 4, 8, 16, 32) if min(src.width, src.height) // f >= 64]
        dst.build_overviews(factors, Resampling.average)


def read_surface(path: str | Path) -> xr.DataArray:
    """Read a surface written by :func:`write_cog` (or any single-band GeoTIFF).

    Nodata pixels come back as NaN; ``attrs`` carry ``crs`` (WKT), ``transform`` and ``nodata``.
    """
    import rasterio

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"risk surface {path} not found; run `sauti heatmap --out {path}` first")
    with rasterio.open(path) as src:
        data = src.read(1, masked=True).astype(np.float32).filled(np.nan)
        transform = src.transform
        crs = src.crs.to_wkt() if src.crs else None
        nodata = src.nodata
        tags = src.tags()
        width, height = src.width, src.height
    xs = transform.c + (np.arange(width) + 0.5) * transform.a
    ys = transform.f + (np.arange(height) + 0.5) * transform.e
    attrs: dict = {}
    for key, value in tags.items():
        if key == "AREA_OR_POINT":
            continue
        try:
            attrs[key] = float(value)
        except ValueError:
            attrs[key] = value
    attrs.update({"crs": crs, "transform": tuple(float(v) for v in tuple(transform)[:6]), "nodata": nodata})
    return xr.DataArray(data, dims=("y", "x"), coords={"y": ys, "x": xs}, name="risk", attrs=attrs)


@dataclass(frozen=True)
class SurfaceParams:
    """How a risk surface is drawn: the declared parameters of :func:`risk_surface`.

    Resolved once where the user gives them (``sauti heatmap``, the demo) and read back from a
    stored surface's tags (:meth:`from_attrs`), so a nowcast redraws it exactly as it was made.
    """

    resolution_km: float = 2.0
    until: str | None = None
    half_life_days: float = 90.0
    bandwidth_km: float = 25.0
    blend: float = 0.5
    relative_scores: bool = True

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> SurfaceParams:
        """The parameters a stored surface was drawn with (its GeoTIFF tags)."""
        until = attrs.get("until")
        return cls(
            resolution_km=float(attrs.get("resolution_km", 2.0)),
            until=None if until in (None, "", "NaT") else str(until),
            half_life_days=float(attrs.get("half_life_days", 90)),
            bandwidth_km=float(attrs.get("bandwidth_km", 25)),
            blend=float(attrs.get("blend", 0.5)),
            relative_scores=bool(int(attrs.get("relative_scores", 1))),
        )

    def as_kwargs(self) -> dict[str, Any]:
        """The parameters as keyword arguments of :func:`risk_surface`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def draw_surface(
    workspace: Workspace,
    scores: pd.DataFrame | None,
    *,
    unit: str,
    params: SurfaceParams,
    out: str | Path | None = None,
    incidents: pd.DataFrame | None = None,
) -> tuple[xr.DataArray, Path]:
    """Compute the surface from the store and write the copy the service serves
    (``<workspace>/rasters/risk_surface.tif``), and ``out`` too when given.

    The one drawing step of ``sauti heatmap``, the demo and the nowcast. Returns the surface and
    the path written (``out`` when given, else the served copy).
    """
    surface = workspace_surface(workspace, scores, unit=unit, incidents=incidents, **params.as_kwargs())
    written = write_cog(surface, workspace.root / DEFAULT_SURFACE)
    if out is not None:
        written = write_cog(surface, out)
    return surface, written


def refresh_default_surface(
    workspace: Workspace,
    scores: pd.DataFrame | None,
    *,
    unit: str = "admin2",
    incidents: pd.DataFrame | None = None,
) -> Path | None:
    """Rewrite the workspace's stored surface with new ``scores``, keeping how it was made.

    Resolution, half-life, bandwidth, blend, score scaling and reference date are read back from
    the stored file's tags, so a nowcast changes the scores in the surface and nothing else. Returns
    None (and writes nothing) when the workspace has no surface yet.
    """
    path = workspace.root / DEFAULT_SURFACE
    if not path.exists():
        return None
    params = SurfaceParams.from_attrs(read_surface(path).attrs)
    return draw_surface(workspace, scores, unit=unit, params=params, incidents=incidents)[1]


def workspace_surface(
    workspace: Workspace,
    scores: pd.DataFrame | None = None,
    *,
    unit: str = "admin2",
    until: DateLike | None = None,
    incidents: pd.DataFrame | None = None,
    **kwargs: Any,
) -> xr.DataArray:
    """:func:`risk_surface` over a workspace's ``unit`` localities from its stored incidents.

    ``incidents``: every stored incident, when the caller has read them already (a refresh reads
    them once). ``attrs["unit"]`` records the unit set. Raises NotReadyError when the store has no
    incidents.
    """
    from sauti.errors import NotReadyError
    from sauti.features.compute import incidents_until
    from sauti.features.units import unit_localities

    units = unit_localities(workspace, unit)
    incidents = incidents_until(workspace, until, incidents)
    if incidents.empty:
        raise NotReadyError(
            f"the workspace {workspace.root} has no incidents; run `sauti ingest incidents FILE` first"
        )
    surface = risk_surface(incidents, units, scores, until=until, **kwargs)
    surface.attrs["unit"] = unit
    return surface


def write_default_surface(
    workspace: Workspace,
    scores: pd.DataFrame | None = None,
    *,
    unit: str = "admin2",
    resolution_km: float = 2.0,
    until: DateLike | None = None,
    out: str | Path | None = None,
    **kwargs: Any,
) -> Path:
    """Compute the surface from the store and write it to ``<workspace>/rasters/risk_surface.tif``.

    ``out`` writes a copy elsewhere as well (returned instead of the default path). The keyword
    arguments are those of :class:`SurfaceParams`.
    """
    params = SurfaceParams(resolution_km=resolution_km, until=until, **kwargs)
    return draw_surface(workspace, scores, unit=unit, params=params, out=out)[1]
