"""The operator commands, through the real CLI (app.test_cli_runner)."""
from __future__ import annotations

import json

from tests.feeds import reference, txn, write
from tests.integration.test_pipeline import customer_feed


def lines(output: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_import_json_and_exit_codes(runner, feed_path):
    good = write(feed_path(), customer_feed)
    result = runner.invoke(args=["import", "--json", str(good)])
    assert result.exit_code == 0, result.output
    (out,) = lines(result.output)
    assert {k: out[k] for k in ("source", "sequence", "status", "read", "applied",
                                "quarantined")} == {
        "source": "CBS", "sequence": 1, "status": "applied", "read": 15, "applied": 15,
        "quarantined": 0}
    assert out["file"] == str(good) and isinstance(out["batch_id"], int) and "reason" not in out

    again = runner.invoke(args=["import", "--json", str(good)])
    assert again.exit_code == 0 and lines(again.output)[0]["status"] == "duplicate"

    def orphan(feed):  # type: ignore[no-untyped-def]
        txn(feed, "T9", "NO-SUCH-ACCOUNT", "1")
    partial = runner.invoke(args=["import", "--json", str(write(feed_path(), orphan, sequence=2))])
    assert partial.exit_code == 3 and lines(partial.output)[0]["quarantined"] == 1

    broken = write(feed_path(), reference, sequence=3, records_override=99)
    rejected = runner.invoke(args=["import", "--json", str(broken),
                                   str(write(feed_path(), reference, sequence=4))])
    assert rejected.exit_code == 2
    first, second = lines(rejected.output)
    assert first["status"] == "rejected" and "Trailer says 99 records" in first["reason"]
    assert second["status"] == "applied"  # one bad file does not stop the others


def test_stats_batches_and_quarantine_commands(runner, feed_path):
    def orphan(feed):  # type: ignore[no-untyped-def]
        reference(feed)
        feed.account("X1", "NOPE", product="SAV", type="SAVINGS", currency="CNY", balance="5")
    runner.invoke(args=["import", str(write(feed_path(), orphan))])
    stats = json.loads(runner.invoke(args=["stats", "--json"]).output)
    assert stats == {"customers": 0, "accounts": 0, "holdings": 0, "transactions": 0,
                     "quarantined": 1, "batches": 1}

    batches = runner.invoke(args=["batches"])
    assert batches.exit_code == 0 and "partial" in batches.output and "CBS" in batches.output

    listed = runner.invoke(args=["quarantine", "list", "--json"])
    (row,) = json.loads(listed.output)
    assert row["record_key"] == "X1" and row["reason"] == "customer 'NOPE' of CBS is unknown"

    release = runner.invoke(args=["quarantine", "release", str(row["id"])])
    assert release.exit_code == 3 and "still waiting 1" in release.output

    missing_reason = runner.invoke(args=["quarantine", "discard", str(row["id"])])
    assert missing_reason.exit_code == 2  # --reason is required

    discard = runner.invoke(args=["quarantine", "discard", str(row["id"]), "--reason", "test"])
    assert discard.exit_code == 0 and "discarded 1" in discard.output
    assert json.loads(runner.invoke(args=["stats", "--json"]).output)["quarantined"] == 0


def test_release_applies_once_the_reference_exists(runner, feed_path):
    def orphan(feed):  # type: ignore[no-untyped-def]
        reference(feed)
        feed.customer("C1", "张三", branch="NEWBR")
    runner.invoke(args=["import", str(write(feed_path(), orphan))])

    def branch(feed):  # type: ignore[no-untyped-def]
        feed.branch("NEWBR", "新支行", "杭州", parent="HO")
    # Arrives in a file: the waiting customer is applied automatically.
    out = runner.invoke(args=["import", "--json", str(write(feed_path(), branch, sequence=2))])
    assert lines(out.output)[0]["released"] == 1
    assert json.loads(runner.invoke(args=["stats", "--json"]).output)["customers"] == 1


def test_db_current_reports_the_head_revision(runner):
    result = runner.invoke(args=["db", "current"])
    assert result.exit_code == 0 and result.output.strip().startswith("0005")


def test_validate_checks_files_against_the_xsd(runner, feed_path):
    good = write(feed_path(), customer_feed)
    result = runner.invoke(args=["validate", str(good)])
    assert result.exit_code == 0 and "valid" in result.output
    bad = write(feed_path(), customer_feed)
    bad.write_text(bad.read_text("utf-8").replace("<Gender>M</Gender>", "<Gender>X</Gender>"),
                   "utf-8")
    result = runner.invoke(args=["validate", str(good), str(bad)])
    assert result.exit_code == 1
    assert "INVALID" in result.output and "Gender" in result.output
    dtd = feed_path()
    dtd.write_bytes(b'<?xml version="1.0"?><!DOCTYPE Feed [<!ENTITY x "y">]>'
                    b'<Feed xmlns="urn:bankcrm:feed:1"/>')
    result = runner.invoke(args=["validate", str(dtd)])
    assert result.exit_code == 1 and "DTD" in result.output
