"""Gridded risk surfaces: recency-weighted kernel density of incidents blended with locality risk.

The surface is an ``xarray.DataArray (y, x)`` on a regular grid in the unit set's local
equal-area CRS (:func:`sauti.geo.local_crs`), NaN outside the localities, with ``attrs`` ``crs``
(WKT), ``transform`` (the 6 affine coefficients a, b, c, d, e, f), ``nodata`` (the value the
GeoTIFF uses), ``resolution_km`` and the parameters. It is written as a Cloud-Optimized GeoTIFF
(tiled, deflate-compressed, with overviews) and read back with CRS, transform and nodata intact.

Only incidents enter the density; alerts reach the surface only through locality scores, so no
alert position can be read off a map.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xarray as xr

from sauti.constants import DEFAULT_SURFACE
from sauti.geo import local_crs

NODATA = -9999.0
MAX_PIXELS = 60_000_000
_LOCATED = ("point", "locality")


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
    until=None,
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
    Without ``scores`` the surface is the scaled density alone.

    Parameters
    ----------
    incidents : DataFrame
        ``occurred_on``, ``longitude``, ``latitude`` and optionally ``location_precision``
        (region- and country-precise incidents are left out).
    localities : GeoDataFrame
        Unit set; defines the extent, the CRS and the mask (NaN outside every locality).
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
        density). ``attrs["score_peak"]`` keeps the divisor.

    Returns
    -------
    xarray.DataArray
        Dims ``(y, x)``, float32, values in [0, 1], NaN outside.
    """
    from rasterio.features import rasterize
    from scipy.ndimage import gaussian_filter

    if resolution_km <= 0 or bandwidth_km <= 0 or half_life_days <= 0:
        raise ValueError("resolution_km, bandwidth_km and half_life_days must be positive")
    if not 0 <= blend <= 1:
        raise ValueError(f"blend must be within [0, 1], got {blend}")
    if localities.empty:
        raise ValueError("risk_surface needs at least one locality")
    units = localities.to_crs("EPSG:4326")
    crs = local_crs(tuple(units.total_bounds))
    geoms = units.geometry.to_crs(crs)
    resolution = resolution_km * 1000.0
    transform, width, height = _grid(tuple(geoms.total_bounds), resolution)
    shape = (height, width)
    inside = rasterize(
        ((g, 1) for g in geoms.to_numpy()), out_shape=shape, transform=transform, fill=0, dtype="uint8"
    )
    inside = inside.astype(bool)

    events = incidents
    if "location_precision" in events:
        events = events[events["location_precision"].isin(_LOCATED)]
    events = events[np.isfinite(pd.to_numeric(events["longitude"], errors="coerce"))]
    dates = pd.to_datetime(events["occurred_on"])
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert(None)
    reference = (
        pd.Timestamp(until) if until is not None else (dates.max() if len(dates) else pd.Timestamp.now())
    )
    density = np.zeros(shape, dtype=np.float64)
    if len(events):
        weights = recency_weights(dates, reference, half_life_days)
        pts = gpd.GeoSeries(
            shapely.points(events["longitude"].to_numpy(float), events["latitude"].to_numpy(float)),
            crs="EPSG:4326",
        ).to_crs(crs)
        col = np.floor((pts.x.to_numpy() - transform.c) / resolution).astype(np.int64)
        row = np.floor((transform.f - pts.y.to_numpy()) / resolution).astype(np.int64)
        ok = (weights > 0) & (row >= 0) & (row < height) & (col >= 0) & (col < width)
        binned = np.bincount(row[ok] * width + col[ok], weights=weights[ok], minlength=height * width)
        density = gaussian_filter(binned.reshape(shape), sigma=bandwidth_km / resolution_km, mode="constant")
    peak = float(density[inside].max()) if inside.any() else 0.0
    score_peak = float("nan")
    scaled = density / peak if peak > 0 else density
    if scores is not None and len(scores):
        probability = units[["locality_id"]].merge(
            scores[["locality_id", "probability"]].drop_duplicates("locality_id"),
            on="locality_id",
            how="left",
        )["probability"]
        probability = probability.fillna(0.0).clip(0, 1).to_numpy(float)
        score_peak = float(probability.max()) if len(probability) else 0.0
        if relative_scores and score_peak > 0:
            probability = probability / score_peak
        risk = rasterize(
            zip(geoms.to_numpy(), probability, strict=True),
            out_shape=shape,
            transform=transform,
            fill=0.0,
            dtype="float64",
        )
        value = blend * scaled + (1 - blend) * risk
    else:
        value = scaled
    value = np.where(inside, value, np.nan).astype(np.float32)
    xs = transform.c + (np.arange(width) + 0.5) * resolution
    ys = transform.f - (np.arange(height) + 0.5) * resolution
    return xr.DataArray(
        value,
        dims=("y", "x"),
        coords={"y": ys, "x": xs},
        name="risk",
        attrs={
            "crs": crs.to_wkt(),
            "transform": tuple(float(v) for v in tuple(transform)[:6]),
            "nodata": NODATA,
            "resolution_km": float(resolution_km),
            "until": str(reference.date()),
            "half_life_days": float(half_life_days),
            "bandwidth_km": float(bandwidth_km),
            "blend": float(blend) if scores is not None and len(scores) else 1.0,
            "density_peak_per_km2": peak / (resolution_km**2),
            "score_peak": score_peak,
            "relative_scores": int(bool(relative_scores)),
            "units": "risk index 0-1",
        },
    )


def _cog_driver_available() -> bool:
    import rasterio

    with rasterio.Env() as env:
        return "COG" in env.drivers()


def write_cog(surface: xr.DataArray, path) -> Path:
    """Write ``surface`` as a Cloud-Optimized GeoTIFF (tiled, deflate, overviews), atomically.

    NaN pixels are written as ``surface.attrs["nodata"]`` (default -9999) and declared as nodata.
    """
    import rasterio
    import rasterio.shutil
    from affine import Affine
    from rasterio.io import MemoryFile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nodata = float(surface.attrs.get("nodata", NODATA))
    data = np.asarray(surface.values, dtype=np.float32)
    data = np.where(np.isnan(data), np.float32(nodata), data)
    transform = Affine(*surface.attrs["transform"][:6])
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": "float32",
        "crs": surface.attrs["crs"],
        "transform": transform,
        "nodata": nodata,
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with MemoryFile() as memfile:
            with memfile.open(**profile) as dst:
                dst.write(data, 1)
                dst.update_tags(
                    **{k: str(v) for k, v in surface.attrs.items() if k not in ("crs", "transform")}
                )
            with memfile.open() as src:
                if _cog_driver_available():
                    rasterio.shutil.copy(
                        src,
                        tmp,
                        driver="COG",
                        COMPRESS="DEFLATE",
                        PREDICTOR="YES",
                        BLOCKSIZE=256,
                        OVERVIEWS="AUTO",
                        RESAMPLING="AVERAGE",
                    )
                else:  # pragma: no cover - GDAL < 3.1
                    _write_tiled_with_overviews(src, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _write_tiled_with_overviews(src, path: Path) -> None:  # pragma: no cover - old GDAL only
    import rasterio
    from rasterio.enums import Resampling

    profile = src.profile | {"tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(src.read(1), 1)
        factors = [f for f in (2, 4, 8, 16, 32) if min(src.width, src.height) // f >= 64]
        dst.build_overviews(factors, Resampling.average)


def read_surface(path) -> xr.DataArray:
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


def refresh_default_surface(workspace, scores: pd.DataFrame | None, *, unit: str = "admin2") -> Path | None:
    """Rewrite the workspace's stored surface with new ``scores``, keeping how it was made.

    Resolution, half-life, bandwidth, blend, score scaling and reference date are read back from
    the stored file's tags, so a nowcast changes the scores in the surface and nothing else. Returns
    None (and writes nothing) when the workspace has no surface yet.
    """
    path = workspace.root / DEFAULT_SURFACE
    if not path.exists():
        return None
    made = read_surface(path).attrs
    until = made.get("until")
    return write_default_surface(
        workspace,
        scores,
        unit=unit,
        resolution_km=float(made.get("resolution_km", 2.0)),
        until=None if until in (None, "", "NaT") else until,
        half_life_days=float(made.get("half_life_days", 90)),
        bandwidth_km=float(made.get("bandwidth_km", 25)),
        blend=float(made.get("blend", 0.5)),
        relative_scores=bool(made.get("relative_scores", 1)),
    )


def write_default_surface(
    workspace,
    scores: pd.DataFrame | None = None,
    *,
    unit: str = "admin2",
    resolution_km: float = 2.0,
    until=None,
    out: str | Path | None = None,
    **kwargs,
) -> Path:
    """Compute the surface from the store and write it to ``<workspace>/rasters/risk_surface.tif``.

    ``out`` writes a copy elsewhere as well (returned instead of the default path).
    """
    from sauti.features.units import unit_localities

    units = unit_localities(workspace, unit)
    incidents = workspace.incidents(
        until=f"{pd.Timestamp(until).date()}T23:59:59" if until is not None else None
    )
    surface = risk_surface(incidents, units, scores, resolution_km=resolution_km, until=until, **kwargs)
    default = write_cog(surface, workspace.root / DEFAULT_SURFACE)
    if out is not None:
        return write_cog(surface, out)
    return default
