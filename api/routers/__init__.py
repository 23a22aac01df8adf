"""One router per file: localities, ogc, tiles, map, alerts, patrols, meta."""
