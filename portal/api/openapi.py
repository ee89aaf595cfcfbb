"""The OpenAPI 3.1 document of /api/v1; a test checks it lists exactly the API's routes."""
from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}


def _error_responses(*codes: int) -> dict[str, Any]:
    names = {400: "Invalid request", 401: "Missing, expired or invalid token",
             403: "Not allowed for this role", 404: "Not found or outside your scope",
             409: "Conflict"}
    return {str(c): {"description": names[c], "content": {"application/json": {"schema": ERROR}}}
            for c in codes}


def _page_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["items", "total", "page"], "properties": {
        "items": {"type": "array", "items": item}, "total": {"type": "integer"},
        "page": {"type": "integer"}, "per_page": {"type": "integer"}}}


PAGE_PARAMETERS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {"name": "per_page", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
]

PATHS: dict[str, Any] = {
    "/auth/token": {"post": {
        "summary": "Exchange a username and password for a short-lived bearer token",
        "security": [],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["username", "password"],
            "properties": {"username": {"type": "string"}, "password": {"type": "string"}}}}}},
        "responses": {"200": {"description": "A token", "content": {"application/json": {
            "schema": {"type": "object", "required": ["access_token", "expires_in"],
                       "properties": {"access_token": {"type": "string"},
                                      "token_type": {"type": "string"},
                                      "expires_in": {"type": "integer"}}}}}},
                      **_error_responses(400, 401)}}},
    "/openapi.json": {"get": {"summary": "This document", "security": [],
                              "responses": {"200": {"description": "OpenAPI document"}}}},
}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
}


def register_path(path: str, operations: dict[str, Any]) -> None:
    """Feature modules add their endpoints here, next to their views."""
    PATHS.setdefault(path, {}).update(operations)


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Bank CRM API", "version": "1.0.0",
                 "description": "Customers within the caller's scope; a customer outside it "
                                "answers 404. Errors are {\"error\": {\"code\", \"message\"}}."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "bearerFormat": "JWT"}},
                       "schemas": SCHEMAS},
        "paths": PATHS,
    }
