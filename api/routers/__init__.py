"""One router per file: localities, ogc, tiles, map, alerts, patrols, backtests, meta."""
