"""The query API's endpoints, one module per resource:

- ``meters``: GET /v1/meters
- ``readings``: GET /v1/meters/{muid}/readings
- ``series``: GET /v1/meters/{muid}/series (the work is in ``meterflow_api.series``)
- ``analytics``: GET /v1/meters/{muid}/profile, /stats, /autocorrelation
- ``compatibility``: GET /meterdata/measurement (the source company's format)
- ``quality``: GET /v1/quality (per meter coverage, gaps, last reading, silent flag)
- ``common``: parameter declarations, documented error responses, per-meter parameter parsing

A new endpoint goes into its resource's module (a new module for a new resource, added to ``router``
below). ``router`` holds every route in the order of the OpenAPI document.
"""

from fastapi import APIRouter

from meterflow_api.routes import analytics, compatibility, meters, quality, readings, series
from meterflow_api.routing import LeanParamsRoute

# The modules' routes as they are (not include_router(), which would build a copy of each).
router = APIRouter(
    route_class=LeanParamsRoute,
    routes=[
        route
        for module in (meters, readings, series, analytics, compatibility, quality)
        for route in module.router.routes
    ],
)

__all__ = ["router"]
