"""LeanParamsRoute answers exactly as FastAPI's own route class would: same values, same 422s, same OpenAPI."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
import pytest
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from meterflow_api.routing import LeanParamsRoute, _lean_params
from starlette.responses import Response


def _echo(**values: Any) -> Response:
    return Response(orjson.dumps(values), media_type="application/json")


def _app(route_class: type[APIRoute]) -> FastAPI:
    router = APIRouter(route_class=route_class)

    @router.get("/things/{thing}")
    async def things(
        request: Request,
        thing: Annotated[str, Path(description="which thing")],
        needed: Annotated[str, Query(description="required text")],
        name: Annotated[str | None, Query(description="optional text")] = None,
        kind: Annotated[str, Query(description="text with a default")] = "plain",
        limit: Annotated[int, Query(description="an integer")] = 10,
        ratio: Annotated[float | None, Query()] = None,
        fmt: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
        tags: Annotated[list[str] | None, Query(description="repeated text")] = None,
    ) -> Response:
        assert isinstance(request, Request)
        return _echo(thing=thing, name=name, kind=kind, limit=limit, ratio=ratio, fmt=fmt, needed=needed, tags=tags)

    app = FastAPI()

    async def invalid(_: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
        return Response(orjson.dumps(detail), status_code=422, media_type="application/json")

    app.add_exception_handler(RequestValidationError, invalid)
    app.include_router(router)
    return app


QUERIES = [
    "needed=x",
    "needed=x&name=n&kind=k&limit=7&ratio=0.5&format=csv",
    "needed=x&limit=abc",
    "needed=x&limit=1.5",
    "needed=x&format=xml",
    "needed=x&ratio=nan-ish",
    "name=only",
    "needed=x&needed=y&limit=3&limit=4",
    "needed=x&unknown=1",
    "needed=&name=",
    "needed=x&tags=a",
    "needed=x&tags=a&tags=b&tags=",
]


@pytest.mark.parametrize("query", QUERIES)
def test_same_answer_as_fastapi(query: str) -> None:
    with TestClient(_app(APIRoute)) as fastapi_client, TestClient(_app(LeanParamsRoute)) as lean_client:
        expected = fastapi_client.get(f"/things/t1?{query}")
        got = lean_client.get(f"/things/t1?{query}")
    assert (got.status_code, got.json()) == (expected.status_code, expected.json())


def test_same_openapi_document() -> None:
    assert _app(LeanParamsRoute).openapi() == _app(APIRoute).openapi()


async def dependency() -> int:
    return 1


def _served_lean(route: APIRoute) -> bool:
    return _lean_params(route.dependant, route.endpoint) is not None


def test_routes_it_cannot_serve_keep_fastapis_handler() -> None:
    router = APIRouter(route_class=LeanParamsRoute)

    @router.get("/dep")
    async def with_dependency(value: Annotated[int, Depends(dependency)]) -> Response:
        return _echo(value=value)

    @router.get("/list")
    async def with_list(tags: Annotated[list[int], Query()]) -> Response:
        return _echo(tags=tags)

    @router.get("/dict")
    async def returns_data() -> dict[str, int]:
        return {"a": 1}

    assert not any(_served_lean(route) for route in router.routes if isinstance(route, APIRoute))
    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as client:
        assert client.get("/dep").json() == {"value": 1}
        assert client.get("/list?tags=1&tags=2").json() == {"tags": [1, 2]}
        assert client.get("/dict").json() == {"a": 1}


class _Caller:
    """A LeanDependency: resolved from the request alone, before any parameter is looked at."""

    async def resolve(self, request: Request) -> str:
        caller = request.headers.get("x-caller")
        if caller is None:
            raise PermissionError("no caller")
        return caller

    async def __call__(self, request: Request) -> str:
        return await self.resolve(request)


def test_a_lean_dependency_is_served_lean_and_resolved_before_the_parameters() -> None:
    router = APIRouter(route_class=LeanParamsRoute)

    @router.get("/who")
    async def who(caller: Annotated[str, Depends(_Caller())], limit: Annotated[int, Query()] = 1) -> Response:
        return _echo(caller=caller, limit=limit)

    (route,) = [r for r in router.routes if isinstance(r, APIRoute)]
    assert _served_lean(route)
    app = FastAPI()

    async def refused(_: Request, error: Exception) -> Response:
        return Response(b"{}", status_code=401, media_type="application/json")

    app.add_exception_handler(PermissionError, refused)
    app.include_router(router)
    with TestClient(app) as client:
        assert client.get("/who?limit=2", headers={"x-caller": "me"}).json() == {"caller": "me", "limit": 2}
        assert client.get("/who?limit=abc").status_code == 401  # the dependency first, as FastAPI does
        assert client.get("/who?limit=abc", headers={"x-caller": "me"}).status_code == 422


def test_the_api_routes_are_served_lean() -> None:
    from meterflow_api.routes import router

    routes = [route for route in router.routes if isinstance(route, APIRoute)]
    assert routes and all(_served_lean(route) for route in routes)


def test_dependencies_of_an_including_router_still_run() -> None:
    router = APIRouter(route_class=LeanParamsRoute)

    @router.get("/plain")
    async def plain(text: Annotated[str, Query()] = "x") -> Response:
        return _echo(text=text)

    calls: list[str] = []

    async def guard(request: Request) -> None:
        calls.append(request.url.path)

    app = FastAPI()
    app.include_router(router, prefix="/v9", dependencies=[Depends(guard)])
    with TestClient(app) as client:
        assert client.get("/v9/plain?text=y").json() == {"text": "y"}
    assert calls == ["/v9/plain"]
