"""The query API's endpoints, one module per resource:

- ``meters``: GET /v1/meters
- ``readings``: GET /v1/meters/{muid}/readings
- ``series``: GET /v1/meters/{muid}/series (the work is in ``meterflow_api.series``)
- ``analytics``: GET /v1/meters/{muid}/profile, /stats, /autocorrelation
- ``cost``: GET /v1/meters/{muid}/cost (the work is in ``meterflow_api.cost``)
- ``tariffs``: GET /v1/tariffs, /v1/tariffs/{name}
- ``sites``: GET /v1/sites, /v1/sites/{site}, its /balance and /cost (the work is in ``meterflow_api.sites``)
- ``insights``: GET /v1/meters/{muid}/insights, /overview (the work is in ``meterflow_api.insights``)
- ``fleet``: GET /v1/fleet/series, /v1/fleet/top (the work is in ``meterflow_api.fleet``)
- ``compatibility``: GET /meterdata/measurement (the source company's format)
- ``quality``: GET /v1/quality (per meter coverage, gaps, last reading, silent flag)
- ``common``: parameter declarations, documented error responses, per-meter parameter parsing

A new endpoint goes into its resource's module (a new module for a new resource, added to ``router``
below). ``router`` holds every route in the order of the OpenAPI document.
"""

from fastapi import APIRouter

from meterflow_api.routes import (
    analytics,
    compatibility,
    cost,
    fleet,
    insights,
    meters,
    quality,
    readings,
    series,
    sites,
    tariffs,
)
from meterflow_api.routing import LeanParamsRoute

# The modules' routes as they are (not include_router(), which would build a copy of each).
router = APIRouter(
    route_class=LeanParamsRoute,
    routes=[
        route
        for module in (
            meters,
            readings,
            series,
            analytics,
            insights,
            fleet,
            cost,
            tariffs,
            sites,
            quality,
            compatibility,
        )
        for route in module.router.routes
    ],
)

__all__ = ["router"]
