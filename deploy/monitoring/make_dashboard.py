#!/usr/bin/env python3
"""Writes bmm-pool.json, the Grafana dashboard (run it after changing the
panels below; the JSON is committed so Grafana needs no Python). Every metric
a panel queries must exist in the code: tests/deploy/monitoring_test.sh checks."""
import json
import os

DS = {"type": "prometheus", "uid": "${datasource}"}
panels = []
y = 0


def row(title):
    global y
    panels.append({"type": "row", "title": title, "collapsed": False, "id": len(panels) + 1,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
    y += 1


def panel(title, targets, unit="short", x=0, w=8, h=8, kind="timeseries", desc=""):
    panels.append({
        "type": kind, "title": title, "id": len(panels) + 1, "datasource": DS, "description": desc,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}} if kind == "timeseries" else {},
        "targets": [{"datasource": DS, "refId": chr(65 + i), "expr": e, "legendFormat": l}
                    for i, (e, l) in enumerate(targets)],
    })


def line(*ps):
    global y
    for p in ps:
        p()
    y += 8


row("Miners (bmm-stratum)")
line(lambda: panel("Hashrate by port", [("sum by (instance, port) (bmm_stratum_port_hashrate_hashes_per_second)", "{{instance}} {{port}}")], "Hs/s", 0),
     lambda: panel("Connections", [("sum by (instance) (bmm_stratum_connections)", "{{instance}}")], "short", 8),
     lambda: panel("Workers active", [("sum by (instance) (bmm_stratum_workers_active)", "{{instance}}")], "short", 16))
line(lambda: panel("Shares by result (per second)", [("sum by (result) (rate(bmm_stratum_shares_total[5m]))", "{{result}}")], "ops", 0),
     lambda: panel("Top workers", [("topk(10, bmm_stratum_worker_hashrate_hashes_per_second)", "{{account}}.{{worker}}")], "Hs/s", 8),
     lambda: panel("Refused, closed by limits, bans", [("rate(bmm_stratum_connections_refused_total[5m])", "refused {{instance}}"),
                                                        ("rate(bmm_stratum_connections_closed_by_limits_total[5m])", "closed {{instance}}"),
                                                        ("increase(bmm_stratum_bans_total[1h])", "bans/h {{instance}}")], "short", 16))
row("Blocks and the node")
line(lambda: panel("Blocks found / accepted / rejected (24 h)", [("increase(bmm_stratum_blocks_found_total[24h])", "found {{instance}}"),
                                                                  ("increase(bmm_stratum_blocks_accepted_total[24h])", "accepted {{node}}"),
                                                                  ("increase(bmm_stratum_blocks_rejected_total[24h])", "rejected {{node}}")], "short", 0),
     lambda: panel("Template age", [("bmm_stratum_template_age_seconds", "{{instance}} {{node}}")], "s", 8),
     lambda: panel("Template height and errors", [("bmm_stratum_template_height", "height {{node}}"),
                                                  ("increase(bmm_stratum_template_errors_total[5m])", "errors/5m {{node}}")], "short", 16))
line(lambda: panel("Long poll: last answer age", [("time() - bmm_stratum_longpoll_answer_timestamp_seconds", "{{node}}")], "s", 0),
     lambda: panel("Job broadcast p99", [("histogram_quantile(0.99, sum by (le, instance) (rate(bmm_stratum_job_broadcast_seconds_bucket[5m])))", "{{instance}}")], "s", 8),
     lambda: panel("Share verify p99", [("histogram_quantile(0.99, sum by (le, instance) (rate(bmm_stratum_verify_share_seconds_bucket[5m])))", "{{instance}}")], "s", 16))
row("Stream, spool, process")
line(lambda: panel("Stream backlog (records)", [("bmm_stratum_stream_backlog_records", "stratum {{instance}}"),
                                                ("bmm_accountd_ingest_undelivered_entries", "undelivered {{stream}}"),
                                                ("bmm_accountd_ingest_pending_entries", "pending {{stream}}")], "short", 0),
     lambda: panel("Spool", [("bmm_stratum_spool_free_bytes", "free {{instance}}"), ("bmm_stratum_spool_bytes", "journal {{instance}}")], "bytes", 8),
     lambda: panel("Redis / PostgreSQL up", [("bmm_stratum_redis_up", "stratum redis {{instance}}"), ("bmm_accountd_redis_up", "accountd redis"),
                                             ("bmm_accountd_postgres_up", "accountd postgres")], "short", 16))
line(lambda: panel("Open files / limit", [("process_open_fds / process_max_fds", "{{job}} {{instance}}")], "percentunit", 0),
     lambda: panel("Resident memory", [("process_resident_memory_bytes", "{{job}} {{instance}}")], "bytes", 8),
     lambda: panel("CPU", [("rate(process_cpu_seconds_total[5m])", "{{job}} {{instance}}")], "short", 16))
row("Accounting (bmm-accountd)")
line(lambda: panel("Blocks by state", [("bmm_accountd_blocks", "{{state}}")], "short", 0),
     lambda: panel("Ingest: last entry age", [("bmm_accountd_ingest_last_entry_age_seconds", "{{stream}} {{consumer}}")], "s", 8),
     lambda: panel("Ingest rows (per second)", [("rate(bmm_accountd_ingest_share_rows_total[5m])", "shares"),
                                                ("rate(bmm_accountd_ingest_duplicates_total[5m])", "duplicates"),
                                                ("rate(bmm_accountd_ingest_bad_records_total[5m])", "unreadable")], "ops", 16))
line(lambda: panel("Epoch close: overdue by", [("time() - bmm_accountd_epoch_close_due_timestamp_seconds", "overdue (negative: not due)")], "s", 0),
     lambda: panel("Epoch close duration", [("bmm_accountd_epoch_close_last_seconds", "last"), ("bmm_accountd_epoch_last_closed", "last k")], "s", 8),
     lambda: panel("Ledger audit problems", [("bmm_accountd_audit_problems", "problems")], "short", 16, kind="stat"))
line(lambda: panel("Open payout batches", [("bmm_accountd_payout_batches_open", "{{currency}} {{state}}")], "short", 0),
     lambda: panel("Oldest open payout batch", [("bmm_accountd_payout_oldest_open_seconds", "{{currency}} {{state}}")], "s", 8),
     lambda: panel("API requests (per second)", [("sum by (route, code) (rate(bmm_accountd_api_requests_total[5m]))", "{{route}} {{code}}")], "reqps", 16))

dashboard = {
    "title": "BMM pool", "uid": "bmm-pool", "tags": ["bmm"], "timezone": "utc", "schemaVersion": 39, "version": 1,
    "editable": True, "refresh": "30s", "time": {"from": "now-24h", "to": "now"},
    "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]},
    "annotations": {"list": []},
    "panels": panels,
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bmm-pool.json")
with open(out, "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
