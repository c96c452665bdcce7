"""The /api/v1 blueprint: nests each domain's API blueprint and serves the OpenAPI document.

Each domain declares its endpoints with `ApiBlueprint.operation`, naming the body, query and
response schemas; the same pydantic schemas validate requests and produce /api/v1/openapi.json.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, jsonify, request
from flask_login import current_user
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from casemgr.errors import Unauthorized
from casemgr.fields import Input, parse
from casemgr.paging import Page
from casemgr.web import json_body

API_PREFIX = "/api/v1"
T = TypeVar("T")


class PageQuery(Input):
    """The page of a list to answer (casemgr.paging): `page` from 1, in pages of `per_page`."""

    model_config = ConfigDict(extra="ignore")
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=200)


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None
    line: int | None = Field(default=None, description="the line of an uploaded file that is wrong")


class ErrorOut(BaseModel):
    error: ErrorBody


@dataclass(frozen=True)
class Operation:
    method: str
    rule: str
    summary: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    is_list: bool
    public: bool
    also: tuple[int, ...]  # other success statuses, with the same response
    errors: tuple[int, ...]  # statuses beyond those every operation of its kind may answer (see _error_statuses)
    media_type: str  # of the success response
    raw_body: tuple[str, dict[str, Any]] | None  # a request body that is no pydantic model: (media type, schema)
    creates: tuple[str, str] | None  # (path parameter, response field): the object it makes, for OpenAPI links


class ApiBlueprint(Blueprint):
    """A domain's API blueprint that remembers each operation for the OpenAPI document."""

    def __init__(self, name: str, import_name: str, url_prefix: str = "") -> None:
        super().__init__(name, import_name, url_prefix=url_prefix)
        self.operations: list[Operation] = []

    def operation(self, rule: str, method: str, summary: str, *, body: type[BaseModel] | None = None,
                  query: type[BaseModel] | None = None, response: type[BaseModel] | None = None,
                  status: int = 200, is_list: bool = False, public: bool = False, also: tuple[int, ...] = (),
                  errors: tuple[int, ...] = (),
                  media_type: str = "application/json",
                  raw_body: tuple[str, dict[str, Any]] | None = None,
                  creates: tuple[str, str] | None = None) -> Callable[[Any], Any]:
        """Register `rule` and describe it. `errors`: the statuses it may answer besides those every
        operation like it may (401/403, 404 with path parameters, 400/413/422 with input); 409 and
        the like are named by the operation. `creates`: the path parameter that the response's field
        fills in other operations (the document links them, so clients and fuzzers can follow)."""
        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add_url_rule(rule, fn.__name__, fn, methods=[method])
            self.operations.append(Operation(method.lower(), (self.url_prefix or "") + rule, summary, body,
                                             query, response, status, is_list, public, also, errors, media_type,
                                             raw_body, creates))
            return fn

        return decorate


def body(model: type[BaseModel]) -> Any:
    """The JSON request body validated against `model` (400 malformed JSON, 422 bad field)."""
    return parse(model, json_body())


def query(model: type[BaseModel]) -> Any:
    """The query string validated against `model` (422 naming the bad parameter)."""
    return parse(model, request.args.to_dict())


def out(model: type[BaseModel], obj: Any) -> dict[str, Any]:
    return model.model_validate(obj, from_attributes=True).model_dump(mode="json")


def listing(items: Page[T] | Sequence[T], render: Callable[[T], Any], **extra: Any) -> Any:
    """The one envelope of every list answer (`is_list` operations): {"items": [render(item), ...], "total"}
    and, for a page of a longer list (casemgr.paging.Page), its "page" and "per_page"; a whole list (a
    sequence) has them not. `render` gives an item's JSON, as the operation's response model serializes it
    (`out(Model, ...)`); `extra`: members of the list's own beside the envelope (e.g. counts by type)."""
    if isinstance(items, Page):
        payload = {"items": [render(item) for item in items.items], "total": items.total, "page": items.page,
                   "per_page": items.per_page}
    else:
        payload = {"items": [render(item) for item in items], "total": len(items)}
    return jsonify(payload | extra)


def make_api(domain_blueprints: list[ApiBlueprint]) -> Blueprint:
    api = Blueprint("api", __name__, url_prefix=API_PREFIX)

    @api.before_request
    def _require_token() -> None:
        if request.endpoint == "api.openapi":
            return
        if not current_user.is_authenticated:
            raise Unauthorized("a valid API token is required (Authorization: Bearer <token>)")

    @api.get("/openapi.json")
    def openapi() -> Any:
        return jsonify(openapi_document(domain_blueprints))

    for bp in domain_blueprints:
        api.register_blueprint(bp)
    return api


def openapi_document(blueprints: list[ApiBlueprint]) -> dict[str, Any]:
    # Requests are described as pydantic validates them, responses as it serializes them (a field read
    # from another attribute, such as a custody event's `actor`, goes out under its own name).
    inputs = {m for bp in blueprints for op in bp.operations for m in (op.body, op.query) if m is not None}
    outputs = {ErrorOut} | {op.response for bp in blueprints for op in bp.operations if op.response is not None}
    keys: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((m, "validation") for m in sorted(inputs, key=lambda m: m.__name__)),
        *((m, "serialization") for m in sorted(outputs, key=lambda m: m.__name__))]
    refs, defs = models_json_schema(keys, ref_template="#/components/schemas/{model}")
    schemas = defs.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for bp in blueprints:
        for op in bp.operations:
            path = API_PREFIX + _openapi_path(op.rule)
            paths.setdefault(path, {})[op.method] = _operation(bp.name, op, refs, schemas)
    _link(paths, [(bp.name, op) for bp in blueprints for op in bp.operations])
    for model in {op.query for bp in blueprints for op in bp.operations if op.query is not None} - {
            op.body for bp in blueprints for op in bp.operations}:
        # a query model is only a list of parameters, no schema of its own (the schemas it uses stay)
        schemas.pop(_name(refs[(model, "validation")]), None)
    paths[API_PREFIX + "/openapi.json"] = {"get": {
        "summary": "This OpenAPI document", "tags": ["api"], "operationId": "api.get/openapi.json",
        "security": [], "responses": {"200": {"description": "success",
                                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "casemgr API", "version": "1"},
        "servers": [{"url": "/"}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def _link(paths: dict[str, dict[str, Any]], operations: list[tuple[str, Operation]]) -> None:
    """OpenAPI links from each operation that creates an object to the operations on that object."""
    for _, op in operations:
        if op.creates is None:
            continue
        param, field = op.creates
        links = {re.sub(r"[^A-Za-z0-9]+", "_", f"{other.method}{_openapi_path(other.rule)}").strip("_"):
                 {"operationId": _operation_id(tag, other), "parameters": {param: f"$response.body#/{field}"}}
                 for tag, other in operations
                 if [n for _, n in _path_params(other.rule)] == [param]}
        paths[API_PREFIX + _openapi_path(op.rule)][op.method]["responses"][str(op.status)]["links"] = links


def _operation_id(tag: str, op: Operation) -> str:
    return f"{tag}.{op.method}{op.rule}"


_PATH_PARAMETER = re.compile(r"<(?:([a-z]+):)?([a-z_]+)>")


def _path_params(rule: str) -> list[tuple[str, str]]:
    """The (converter, name) of each parameter in a Flask rule; the converter is "" for a plain string."""
    return _PATH_PARAMETER.findall(rule)


def _openapi_path(rule: str) -> str:
    return _PATH_PARAMETER.sub(r"{\2}", rule)


def _name(ref: dict[str, Any]) -> str:
    return str(ref["$ref"]).rsplit("/", 1)[1]


ERROR_DESCRIPTIONS = {
    400: "malformed request (not JSON, not multipart, bad encoding)",
    401: "no valid token",
    403: "not allowed for this role",
    404: "no such object, or one hidden from the caller",
    409: "conflicts with the object's current state (the message says which)",
    413: "too large: the request body, or what it asks for (the message says which)",
    422: "invalid input, naming the field",
    414: "the request line is longer than the server accepts (answered by the HTTP server)",
    500: "stored evidence failed its integrity check (recorded in custody and audit)",
}


def _error_statuses(op: Operation, path_params: list[tuple[str, str]]) -> set[int]:
    statuses = set(op.errors)
    if not op.public:
        statuses |= {401, 403}
    if path_params:
        statuses.add(404)  # also a path parameter of the wrong type: the route does not match
    if op.body is not None or op.raw_body is not None:
        statuses |= {400, 413, 422}
    if op.query is not None:
        statuses |= {400, 414, 422}
    if any(kind != "int" for kind, _ in path_params):
        statuses |= {400, 414}
    return statuses


def _query_parameter(name: str, prop: dict[str, Any], required: bool, schemas: dict[str, Any]) -> dict[str, Any]:
    """A query parameter from a pydantic property: a value that may be null is just optional in a query
    string, and a list is sent comma-separated in one parameter."""
    schema = {k: v for k, v in prop.items() if k not in {"title", "description", "default"}}
    variants = [v for v in schema.pop("anyOf", []) if v.get("type") != "null"]
    if len(variants) == 1:
        schema |= variants[0]
    elif variants:
        schema["anyOf"] = variants
    if schema.get("type") == "array":
        items = schema.get("items", {})
        choices = schemas[_name(items)].get("enum") if "$ref" in items else items.get("enum")
        one = "(" + "|".join(re.escape(str(c)) for c in choices) + ")" if choices else "[^,]+"
        schema = {"type": "string", "pattern": f"^{one}(,{one})*$"}
    param: dict[str, Any] = {"name": name, "in": "query", "required": required, "schema": schema}
    if prop.get("description"):
        param["description"] = prop["description"]
    return param


def _operation(tag: str, op: Operation, refs: Mapping[Any, dict[str, Any]], schemas: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"summary": op.summary, "tags": [tag], "operationId": _operation_id(tag, op)}
    path_params = _path_params(op.rule)
    params: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "integer"} if t == "int" else
         {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}} for t, n in path_params]
    if op.query is not None:
        model = schemas[_name(refs[(op.query, "validation")])]
        # An object (the case list's custom field filters) is sent as parameters of its own (field.CODE=value),
        # which the operation's description names: no single parameter describes it.
        params += [_query_parameter(name, prop, name in model.get("required", []), schemas)
                   for name, prop in model["properties"].items() if prop.get("type") != "object"]
    if params:
        spec["parameters"] = params
    if op.body is not None:
        spec["requestBody"] = {"required": True,
                               "content": {"application/json": {"schema": refs[(op.body, "validation")]}}}
    elif op.raw_body is not None:
        spec["requestBody"] = {"required": True, "content": {op.raw_body[0]: {"schema": op.raw_body[1]}}}
    response: dict[str, Any] = {"description": "success"}
    if op.response is not None:
        schema: dict[str, Any] = refs[(op.response, "serialization")]
        if op.is_list:
            schema = {"type": "object", "required": ["items", "total"],
                      "properties": {"items": {"type": "array", "items": schema}, "total": {"type": "integer"},
                                     "page": {"type": "integer"}, "per_page": {"type": "integer"}}}
        response["content"] = {op.media_type: {"schema": schema}}
    elif "+json" in op.media_type:  # a STIX bundle
        response["content"] = {op.media_type: {"schema": {"type": "object"}}}
    elif op.media_type != "application/json":
        response["content"] = {op.media_type: {"schema": {"type": "string", "format": "binary"}}}
    error = {"content": {"application/json": {"schema": refs[(ErrorOut, "serialization")]}}}
    spec["responses"] = {str(status): response for status in (op.status, *op.also)} | {
        str(status): {"description": ERROR_DESCRIPTIONS[status], **({} if status == 414 else error)}
        for status in sorted(_error_statuses(op, path_params))}
    if op.public:
        spec["security"] = []
    return spec
