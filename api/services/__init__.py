"""Service functions behind the routers: plain Python over the data source, no HTTP."""
