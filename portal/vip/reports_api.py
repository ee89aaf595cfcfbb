"""Tier reports as JSON under /api/v1: distribution, migration, value pyramid and the
customers behind each figure, within the caller's scope."""
from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any

from flask import Blueprint, jsonify, request

from portal.api.auth import api_user, token_required
from portal.api.openapi import PAGE_PARAMETERS, _error_responses, _page_of, register_path
from portal.customers.services import parse_int, round_money
from portal.extensions import csrf, db
from portal.scope import scope_for
from portal.vip import pyramid, reports
from portal.vip.models import VALUE_LAYERS

blueprint = Blueprint("vip_reports_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)  # bearer tokens, not cookies

DEFAULT_PER_PAGE = 20


def _money(value: Decimal | None) -> str | None:
    return str(round_money(value)) if value is not None else None


def _month(value: Any) -> str | None:
    return reports.month_text(value) if value is not None else None


def _tier(t: reports.Tier) -> dict[str, Any]:
    return {"code": t.code, "rank": t.rank, "name_en": t.name_en, "name_zh": t.name_zh,
            "min_adb": _money(t.min_adb)}


@blueprint.get("/tiers/distribution")
@token_required
def distribution():  # type: ignore[no-untyped-def]
    report = reports.distribution(db.session, scope_for(db.session, api_user()))
    return jsonify(
        tiers=[_tier(t) for t in report.tiers],
        branches=[{"branch": b.code, "branch_name": b.name, "customers": b.customers,
                   "aum": _money(b.aum),
                   "tiers": [{"tier": code, "customers": c.customers, "aum": _money(c.aum)}
                             for code, c in b.cells.items()]} for b in report.branches],
        totals={"customers": report.customers, "aum": _money(report.aum),
                "tiers": [{"tier": code, "customers": c.customers, "aum": _money(c.aum)}
                          for code, c in report.totals.items()]})


@blueprint.get("/tiers/migration")
@token_required
def migration():  # type: ignore[no-untyped-def]
    report = reports.migration(db.session, scope_for(db.session, api_user()),
                               reports.parse_month(request.args.get("month")))
    return jsonify(
        month=_month(report.month), previous_month=_month(report.previous),
        tiers=[_tier(t) for t in report.tiers],
        cells=[{"from": f, "to": t, "customers": n}
               for (f, t), n in sorted(report.counts.items())],
        total=report.total, upgrades=report.upgrades, downgrades=report.downgrades,
        unchanged=report.unchanged, months=[_month(m) for m in report.months])


@blueprint.get("/tiers/pyramid")
@token_required
def value_pyramid():  # type: ignore[no-untyped-def]
    report = pyramid.pyramid(db.session, scope_for(db.session, api_user()))
    return jsonify(
        month=_month(report.month),
        computed_at=report.computed_at.isoformat() if report.computed_at else None,
        layers=[{"layer": layer.code, "customers": layer.customers,
                 "value": _money(layer.value), "adb": _money(layer.adb)}
                for layer in report.layers],
        customers=report.customers, value=_money(report.value), adb=_money(report.adb),
        rules={k: str(v) if isinstance(v, Decimal) else v
               for k, v in asdict(report.rules).items()})


@blueprint.get("/tiers/customers")
@token_required
def customers():  # type: ignore[no-untyped-def]
    drill = reports.Drill.parse(request.args)
    page = parse_int(request.args.get("page"), "page", 1)
    per_page = parse_int(request.args.get("per_page"), "per_page", DEFAULT_PER_PAGE)
    result = reports.drill_down(db.session, scope_for(db.session, api_user()), drill, page,
                                per_page)
    response = jsonify(
        items=[{"id": c.id, "name": c.name, "branch": c.branch_code,
                "branch_name": c.branch_name, "manager": c.manager, "tier": c.tier,
                "aum": _money(c.aum), "adb": _money(c.adb), "from": c.from_tier,
                "to": c.to_tier, "outcome": c.outcome, "layer": c.layer,
                "value": _money(c.value)} for c in result.items],
        total=result.total, page=result.page, per_page=result.per_page)
    response.headers["Cache-Control"] = "no-store"
    return response


# -- OpenAPI ---------------------------------------------------------------------------

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_MONEY = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$",
          "description": "A decimal amount in CNY with 2 places (rounded half up)"}
_NULLABLE_MONEY = {**_MONEY, "type": ["string", "null"]}
_MONTH = {"type": ["string", "null"], "pattern": r"^[0-9]{4}-[0-9]{2}$"}
_TIER = {"type": "object", "required": ["code", "rank", "name_en", "name_zh"], "properties": {
    "code": _STRING, "rank": {"type": "integer"}, "name_en": _STRING, "name_zh": _STRING,
    "min_adb": {**_NULLABLE_MONEY, "description": "Threshold of the current rule version"}}}
_TIER_CELL = {"type": "object", "required": ["tier", "customers", "aum"], "properties": {
    "tier": _STRING, "customers": {"type": "integer"}, "aum": _MONEY}}
_SCOPED = ("Within your scope: an RM's book, a branch manager's subtree, the whole bank "
           "for analysts. Not for admins (403).")

register_path("/tiers/distribution", {"get": {
    "summary": "Customers and AUM per current tier per branch",
    "description": _SCOPED + " AUM in CNY as of the last nightly refresh; CLOSED customers "
                             "are left out.",
    "responses": {"200": {"description": "The distribution", "content": {"application/json": {
        "schema": {"type": "object", "required": ["tiers", "branches", "totals"],
                   "properties": {
                       "tiers": {"type": "array", "items": _TIER},
                       "branches": {"type": "array", "items": {
                           "type": "object", "required": ["branch", "customers", "aum", "tiers"],
                           "properties": {"branch": _NULLABLE_STRING,
                                          "branch_name": _NULLABLE_STRING,
                                          "customers": {"type": "integer"}, "aum": _MONEY,
                                          "tiers": {"type": "array", "items": _TIER_CELL}}}},
                       "totals": {"type": "object", "properties": {
                           "customers": {"type": "integer"}, "aum": _MONEY,
                           "tiers": {"type": "array", "items": _TIER_CELL}}}}}}}},
        **_error_responses(401, 403)}}})

register_path("/tiers/migration", {"get": {
    "summary": "Tier migration matrix of a month against the month before",
    "description": _SCOPED + " Counts the month's tier decisions by tier before (from; "
                             f"'{reports.NO_TIER}' for a customer's first evaluation) and "
                             "after (to).",
    "parameters": [{"name": "month", "in": "query", "schema": {
        "type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$"},
        "description": "YYYY-MM (default: the latest evaluated month)"}],
    "responses": {"200": {"description": "The matrix", "content": {"application/json": {
        "schema": {"type": "object", "required": ["month", "cells", "tiers"], "properties": {
            "month": _MONTH, "previous_month": _MONTH,
            "tiers": {"type": "array", "items": _TIER},
            "cells": {"type": "array", "items": {
                "type": "object", "required": ["from", "to", "customers"],
                "properties": {"from": _STRING, "to": _STRING,
                               "customers": {"type": "integer"}}}},
            "total": {"type": "integer"}, "upgrades": {"type": "integer"},
            "downgrades": {"type": "integer"}, "unchanged": {"type": "integer"},
            "months": {"type": "array", "items": _MONTH,
                       "description": "Months that may be asked for, newest first"}}}}}},
        **_error_responses(400, 401, 403)}}})

register_path("/tiers/pyramid", {"get": {
    "summary": "The customer value pyramid: platinum, gold, iron and lead customers",
    "description": _SCOPED + " Current value is the month's contribution; platinum and gold "
                             "are the top shares by it, iron the others with growth "
                             "potential (rising AUM or income inflows large against AUM), "
                             "lead the rest (see rules).",
    "responses": {"200": {"description": "Customers, contribution and ADB per layer",
                          "content": {"application/json": {"schema": {
                              "type": "object", "required": ["month", "layers"],
                              "properties": {
                                  "month": _MONTH,
                                  "computed_at": {"type": ["string", "null"],
                                                  "format": "date-time"},
                                  "layers": {"type": "array", "items": {
                                      "type": "object",
                                      "required": ["layer", "customers", "value", "adb"],
                                      "properties": {
                                          "layer": {"type": "string",
                                                    "enum": list(VALUE_LAYERS)},
                                          "customers": {"type": "integer"},
                                          "value": _MONEY, "adb": _MONEY}}},
                                  "customers": {"type": "integer"}, "value": _MONEY,
                                  "adb": _MONEY,
                                  "rules": {"type": "object",
                                            "additionalProperties": True}}}}}},
                  **_error_responses(401, 403)}}})

_CUSTOMER_ROW = {"type": "object", "required": ["id", "name", "branch", "tier"], "properties": {
    "id": {"type": "integer"}, "name": _STRING, "branch": _NULLABLE_STRING,
    "branch_name": _NULLABLE_STRING,
    "manager": {**_NULLABLE_STRING, "description": "Effective RM's staff id"},
    "tier": {**_NULLABLE_STRING, "description": "Current tier"},
    "aum": _NULLABLE_MONEY, "adb": _NULLABLE_MONEY, "from": _NULLABLE_STRING,
    "to": _NULLABLE_STRING, "outcome": _NULLABLE_STRING, "layer": _NULLABLE_STRING,
    "value": {**_NULLABLE_MONEY, "description": "The pyramid's current value"}}}

register_path("/tiers/customers", {"get": {
    "summary": "The customers behind a figure of the tier reports",
    "description": _SCOPED + " Give exactly one of: tier (and optionally branch); month "
                             "with from and/or to (a cell, row or column of the migration "
                             "matrix); layer. Largest first.",
    "parameters": [
        {"name": "tier", "in": "query", "schema": _STRING},
        {"name": "branch", "in": "query", "schema": _STRING},
        {"name": "month", "in": "query",
         "schema": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$"}},
        {"name": "from", "in": "query", "schema": _STRING,
         "description": f"A tier code, or '{reports.NO_TIER}' for first evaluations"},
        {"name": "to", "in": "query", "schema": _STRING},
        {"name": "layer", "in": "query", "schema": {"type": "string",
                                                    "enum": list(VALUE_LAYERS)}},
        *PAGE_PARAMETERS],
    "responses": {"200": {"description": "A page of customers", "content": {
        "application/json": {"schema": _page_of(_CUSTOMER_ROW)}}},
        **_error_responses(400, 401, 403)}}})
