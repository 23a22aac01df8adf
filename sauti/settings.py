"""One settings object for the whole process, read from ``SAUTI_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from sauti.constants import DEFAULT_TIMEZONE


class Settings(BaseSettings):
    """Runtime settings. Every field can be set as ``SAUTI_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="SAUTI_", extra="ignore")

    workspace: Path = Field(Path("workspace"), description="Workspace folder (store, cube, models).")
    database_url: str | None = Field(
        None,
        description="The store: sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/NAME (PostgreSQL "
        "≥ 15 with PostGIS ≥ 3). Unset: sqlite:///<workspace>/sauti.sqlite.",
    )
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(5 * 1024 * 1024, description="Largest request body the API accepts.")
    cors_origins: list[str] = Field(default_factory=list, description="CORS is closed unless set.")
    basemap: Path | None = Field(None, description="Optional local MBTiles/PMTiles basemap.")
    population: Path | None = Field(
        None, description="Population density raster (persons/km²) for exposure covariates."
    )
    public_url: str | None = Field(
        None,
        description="Base URL clients reach the service at (e.g. https://sauti.mission.un.org), used "
        "for OGC API links. Unset: the address of the socket the request came in on; never the Host header.",
    )
    timeout_keep_alive_s: int = Field(5, description="Idle keep-alive connections are closed after this.")
    timeout_headers_s: float = Field(
        10.0, description="A connection whose request headers are not complete after this is closed."
    )
    timeout_body_s: float = Field(
        60.0, description="A request whose body has not fully arrived after this many seconds gets 408."
    )
    timezone: str = Field(
        DEFAULT_TIMEZONE, description="Mission's local time zone: naive alert times are read in it."
    )
    stale_after_days: int = Field(
        45, ge=0, description="Warn when the incident data is older than this many days."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Build the settings once per process."""
    return Settings()
