"""The /api/v1 blueprint: nests each domain's API blueprint and serves the OpenAPI document.

Each domain declares its endpoints with `ApiBlueprint.operation`, naming the body, query and
response schemas; the same pydantic schemas validate requests and produce /api/v1/openapi.json.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, jsonify, request
from flask_login import current_user
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from casemgr.errors import Unauthorized
from casemgr.fields import Input
from casemgr.web import json_body, parse

API_PREFIX = "/api/v1"


class Page(Input):
    model_config = ConfigDict(extra="ignore")
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=200)


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


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


class ApiBlueprint(Blueprint):
    """A domain's API blueprint that remembers each operation for the OpenAPI document."""

    def __init__(self, name: str, import_name: str, url_prefix: str = "") -> None:
        super().__init__(name, import_name, url_prefix=url_prefix)
        self.operations: list[Operation] = []

    def operation(self, rule: str, method: str, summary: str, *, body: type[BaseModel] | None = None,
                  query: type[BaseModel] | None = None, response: type[BaseModel] | None = None,
                  status: int = 200, is_list: bool = False, public: bool = False) -> Callable[[Any], Any]:
        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add_url_rule(rule, fn.__name__, fn, methods=[method])
            self.operations.append(Operation(method.lower(), (self.url_prefix or "") + rule, summary, body,
                                             query, response, status, is_list, public))
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


def listing(model: type[BaseModel], items: Iterable[Any], total: int, page: Page | None = None) -> Any:
    payload: dict[str, Any] = {"items": [out(model, i) for i in items], "total": total}
    if page is not None:
        payload |= {"page": page.page, "per_page": page.per_page}
    return jsonify(payload)


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
    models: set[type[BaseModel]] = {ErrorOut}
    for bp in blueprints:
        for op in bp.operations:
            models.update(m for m in (op.body, op.response) if m is not None)
    ordered = sorted(models, key=lambda m: m.__name__)
    _, defs = models_json_schema([(m, "validation") for m in ordered],
                                 ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for bp in blueprints:
        for op in bp.operations:
            path = API_PREFIX + _openapi_path(op.rule)
            paths.setdefault(path, {})[op.method] = _operation(bp.name, op)
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
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def _openapi_path(rule: str) -> str:
    import re

    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(tag: str, op: Operation) -> dict[str, Any]:
    import re

    spec: dict[str, Any] = {"summary": op.summary, "tags": [tag], "operationId": f"{tag}.{op.method}{op.rule}"}
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "integer" if t == "int" else "string"}}
              for t, n in re.findall(r"<(?:([a-z]+):)?([a-z_]+)>", op.rule)]
    if op.query is not None:
        for name, fld in op.query.model_fields.items():
            params.append({"name": name, "in": "query", "required": fld.is_required(),
                           "description": fld.description or "", "schema": {}})
    if params:
        spec["parameters"] = params
    if op.body is not None:
        spec["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(op.body)}}}
    response: dict[str, Any] = {"description": "success"}
    if op.response is not None:
        schema: dict[str, Any] = _ref(op.response)
        if op.is_list:
            schema = {"type": "object", "properties": {"items": {"type": "array", "items": schema},
                                                       "total": {"type": "integer"}}}
        response["content"] = {"application/json": {"schema": schema}}
    error = {"content": {"application/json": {"schema": _ref(ErrorOut)}}}
    spec["responses"] = {str(op.status): response,
                         "401": {"description": "no valid token", **error},
                         "403": {"description": "not allowed for this role", **error},
                         "422": {"description": "invalid input, naming the field", **error}}
    if op.public:
        spec["security"] = []
    return spec
