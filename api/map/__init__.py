"""The offline risk map: what it says (:mod:`~sauti.api.map.content`), how it is drawn with folium
(:mod:`~sauti.api.map.view`, the patrol layer in :mod:`~sauti.api.map.patrol`), and the same map
for a notebook (:mod:`~sauti.api.map.notebook`). ``GET /map`` (:mod:`sauti.api.routers.map`) serves
it. See docs/api.md.
"""
