"""The service: risk API, OGC API – Features, heatmap tiles, the offline map, alert intake, roles.

``create_app`` (in :mod:`sauti.api.app`) builds the FastAPI application; ``sauti serve`` runs it.
See docs/api.md.
"""
