"""The OpenAPI document is well formed and lists exactly the API's routes: an endpoint
added without its documentation (or documentation left behind) fails here."""
from __future__ import annotations

import re
from typing import Any

import pytest

PREFIX = "/api/v1"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
def doc(client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()  # type: ignore[no-any-return]


def openapi_path(rule: str) -> str:
    """/api/v1/customers/<int:customer_id> → /customers/{customer_id}"""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule[len(PREFIX):])


def shape(path: str) -> str:
    """Parameter names are invisible to clients (and the document's own consistency is
    checked below): /customers/{id} documents /customers/<int:customer_id>."""
    return re.sub(r"{[^}]+}", "{}", path)


def routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX + "/"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                found.add((shape(openapi_path(rule.rule)), method.lower()))
    return found


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(shape(path), method) for path, item in doc["paths"].items()
            for method in item if method in HTTP_METHODS}


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references: {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        assert part in node, f"dangling reference {ref}"
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if "$ref" in node else []) + \
            [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def test_the_converter_mapping():
    assert openapi_path("/api/v1/customers/<int:customer_id>") == "/customers/{customer_id}"
    assert openapi_path("/api/v1/a/<name>/b/<any(x, y):field>") == "/a/{name}/b/{field}"


def test_the_document_has_the_shape_of_openapi_3_1(doc):
    assert re.fullmatch(r"3\.1\.\d+", doc["openapi"])
    assert isinstance(doc["info"]["title"], str) and doc["info"]["title"]
    assert isinstance(doc["info"]["version"], str) and doc["info"]["version"]
    assert doc["servers"] == [{"url": PREFIX}]
    assert doc["paths"], "no paths"
    schemes = doc["components"]["securitySchemes"]
    for requirement in doc.get("security", []):
        assert set(requirement) <= set(schemes)


def test_every_operation_is_complete(doc):
    operation_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith("/") and not path.startswith(PREFIX), path
        assert set(item) <= HTTP_METHODS | {"summary", "description", "parameters", "servers"}
        templated = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), f"{where}: no summary"
            responses = operation.get("responses")
            assert responses, f"{where}: no responses"
            for status, response in responses.items():
                assert re.fullmatch(r"[1-5]\d\d|[1-5]XX|default", status), f"{where}: {status}"
                assert response.get("description"), f"{where} {status}: no description"
            assert any(s.startswith("2") for s in responses), f"{where}: no success response"
            parameters = item.get("parameters", []) + operation.get("parameters", [])
            for parameter in parameters:
                assert parameter["in"] in ("query", "path", "header", "cookie"), where
                assert "schema" in parameter or "content" in parameter, where
            in_path = {p["name"] for p in parameters if p["in"] == "path"}
            assert in_path == templated, f"{where}: path parameters {in_path} ≠ {templated}"
            assert all(p["required"] is True for p in parameters if p["in"] == "path"), where
            names = [(p["name"], p["in"]) for p in parameters]
            assert len(names) == len(set(names)), f"{where}: a parameter twice"
            if "operationId" in operation:
                operation_ids.append(operation["operationId"])
            if "security" in operation:
                for requirement in operation["security"]:
                    assert set(requirement) <= set(doc["components"]["securitySchemes"])
    assert len(operation_ids) == len(set(operation_ids)), "operationId used twice"


def test_every_reference_resolves(doc):
    found = list(refs(doc))
    assert found, "the document uses no $ref at all"
    for ref in found:
        assert isinstance(resolve(doc, ref), dict), f"{ref} does not name a schema object"


def test_protected_operations_document_the_401(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS and operation.get("security", doc["security"]):
                assert "401" in operation["responses"], f"{method.upper()} {path}: no 401"


def test_the_document_lists_exactly_the_api_routes(app, doc):
    actual, described = routes(app), documented(doc)
    assert actual - described == set(), "routes without documentation"
    assert described - actual == set(), "documentation without a route"
    assert {("/auth/token", "post"), ("/openapi.json", "get"), ("/audit", "get"),
            ("/assignments", "post")} <= actual


def test_an_undocumented_endpoint_would_fail_the_comparison(config, engine):
    """The comparison above catches a new route: build an app with one more."""
    from flask import Blueprint

    from portal import create_app

    app = create_app(config)
    extra = Blueprint("extra", __name__, url_prefix=PREFIX)
    extra.add_url_rule("/things/<int:thing_id>", "thing", lambda thing_id: "",
                       methods=["GET", "DELETE"])
    app.register_blueprint(extra)
    doc = app.test_client().get(f"{PREFIX}/openapi.json").get_json()
    assert routes(app) - documented(doc) == {("/things/{}", "get"), ("/things/{}", "delete")}
    app.extensions["crm.db"][0].dispose()
