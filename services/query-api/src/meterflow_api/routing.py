"""A FastAPI route class that hands path and query parameters to the handler with far less work per request.

FastAPI (0.165) re-inspects every parameter's type on every request (is it a model, a sequence, which
alias, ...) before validating it: for a handler with eight query parameters that is about a third of the
CPU a series request costs (bench/README.md). Our handlers take plain strings and validate them in the
domain (one 422 that lists every problem), so that inspection buys nothing. ``LeanParamsRoute`` does it
once, when the route is built, and per request only looks each parameter up: a string is passed as it
came, any other type is validated by the same pydantic field FastAPI would use, with FastAPI's error shape.

The endpoint's signature is unchanged, so the OpenAPI document (types, descriptions, examples) is generated
from it as before. One kind of dependency is served too: a ``LeanDependency`` (an object with
``async resolve(request)``, such as the authentication's ``Require``), resolved first, before any parameter
is looked at, as FastAPI resolves dependencies before parameters; its own sub-dependencies (the security
schemes) only document the route. Routes this class cannot serve exactly as FastAPI would (other
dependencies, a body, header or cookie parameters, ...) keep FastAPI's own handler.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import fastapi.routing
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_typed_return_annotation
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


@runtime_checkable
class LeanDependency(Protocol):
    """A dependency whose value depends on the request alone."""

    async def resolve(self, request: Request) -> Any: ...


@dataclass(frozen=True, slots=True)
class _Param:
    name: str  # the handler's argument
    alias: str  # the name in the URL
    where: str  # "path" or "query"
    required: bool
    default: Any
    field: Any  # FastAPI's ModelField; None for a plain string, passed on as received
    many: bool = False  # list[str]: every occurrence of a repeated query parameter, as received

    def missing(self) -> dict[str, Any]:
        return {"type": "missing", "loc": (self.where, self.alias), "msg": "Field required", "input": None}


class LeanParamsRoute(APIRoute):
    """An APIRoute that resolves path and query parameters once per route instead of once per request."""

    def get_route_handler(self) -> Handler:
        dependant = _effective_dependant(self)
        params = None if dependant is None else _lean_params(dependant, self.endpoint)
        dependencies = None if dependant is None else _lean_dependencies(dependant)
        if dependant is None or params is None or dependencies is None:
            return super().get_route_handler()
        endpoint = self.endpoint
        request_name = dependant.request_param_name

        async def handler(request: Request) -> Response:
            resolved = [(name, await dependency.resolve(request)) for name, dependency in dependencies]
            values, errors = _resolve(params, request)
            values.update(resolved)
            if errors:
                raise RequestValidationError(errors)
            if request_name is not None:
                values[request_name] = request
            response: Response = await endpoint(**values)
            return response

        return handler


def _effective_dependant(route: APIRoute) -> Dependant | None:
    """What the route's handler must resolve. A route included into another router is built once per
    inclusion, with the including router's dependencies and prefix added to its own; FastAPI hands that
    context over in a context variable, as its own ``get_route_handler`` reads it. None (FastAPI's handler
    then) if this FastAPI version does not work that way."""
    context_var = getattr(fastapi.routing, "_effective_route_context_var", None)
    if context_var is None:
        return None
    context = context_var.get()
    if context is not None and getattr(context, "original_route", None) is route:
        dependant: Dependant | None = getattr(context, "dependant", None)
        return dependant
    return route.dependant


def _lean_params(dependant: Dependant, endpoint: Callable[..., Any]) -> list[_Param] | None:
    """The parameters of a route we can serve, or None when it needs FastAPI's full machinery."""
    if (
        _lean_dependencies(dependant) is None
        or dependant.body_params
        or dependant.header_params
        or dependant.cookie_params
        or not inspect.iscoroutinefunction(endpoint)
        or not _returns_response(endpoint)
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
    ):
        return None
    params: list[_Param] = []
    for where, fields in (("path", dependant.path_params), ("query", dependant.query_params)):
        for field in fields:
            annotation = field.field_info.annotation
            if where == "query" and annotation in _STRING_LISTS:
                default = None if field.field_info.is_required() else field.field_info.get_default()
                params.append(
                    _Param(field.name, field.alias, where, field.field_info.is_required(), default, None, True)
                )
                continue
            if not _is_scalar(annotation):
                return None  # lists, models, ...: FastAPI's own handling
            plain = annotation is str or annotation == (str | None)
            required = field.field_info.is_required()
            default = None if required else field.field_info.get_default(call_default_factory=True)
            params.append(_Param(field.name, field.alias, where, required, default, None if plain else field))
    return params


def _lean_dependencies(dependant: Dependant) -> list[tuple[str, LeanDependency]] | None:
    """The route's dependencies as (argument, dependency), or None when one is not a LeanDependency."""
    found: list[tuple[str, LeanDependency]] = []
    for dependency in dependant.dependencies:
        if dependency.name is None or not isinstance(dependency.call, LeanDependency):
            return None
        found.append((dependency.name, dependency.call))
    return found


def _resolve(params: list[_Param], request: Request) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    path, query = request.path_params, request.query_params
    values: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for param in params:
        if param.many:
            found = query.getlist(param.alias)
            if found:
                values[param.name] = found
            elif param.required:
                errors.append(param.missing())
            else:
                values[param.name] = param.default
            continue
        raw = (path if param.where == "path" else query).get(param.alias)
        if raw is None:
            if param.required:
                errors.append(param.missing())
            else:
                values[param.name] = param.default
        elif param.field is None:
            values[param.name] = raw
        else:
            value, problems = param.field.validate(raw, values, loc=(param.where, param.alias))
            if problems:
                errors.extend(problems)
            else:
                values[param.name] = value
    return values, errors


_SCALARS: tuple[Any, ...] = (str, int, float, bool)
_STRING_LISTS: tuple[Any, ...] = (list[str], list[str] | None)


def _is_scalar(annotation: Any) -> bool:
    """str, int, float, bool or a Literal of them, optionally ``| None``: one value per parameter."""
    if annotation in _SCALARS or typing.get_origin(annotation) is Literal:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return len(members) == 1 and _is_scalar(members[0])
    return False


def _returns_response(endpoint: Callable[..., Any]) -> bool:
    """The handler builds its Response itself: nothing for FastAPI to serialize or validate afterwards."""
    try:
        returned = get_typed_return_annotation(endpoint)  # resolved as FastAPI resolves it
    except NameError:  # an annotation FastAPI could not resolve either: leave the route to it
        return False
    return isinstance(returned, type) and issubclass(returned, Response)
