"""A minimal QuikApp Python service, as the `instrumentation` output's `python` entry describes it.

Traces: nothing here. The process is started as `opentelemetry-instrument python app.py` with the
OTEL_* environment of the output (after `opentelemetry-bootstrap -a install` added the Flask
instrumentation); Flask's instrumentation makes a server span per request.
Metrics: prometheus-client with the names the stack's alerts and dashboards read, on PORT at /metrics.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

# prometheus-client exposes a Counter named "http_requests" as http_requests_total.
REQUESTS = Counter("http_requests", "HTTP requests served", ["method", "route", "status"])
DURATION = Histogram("http_request_duration_seconds", "HTTP request duration in seconds", ["method", "route"])

app = Flask(__name__)


@app.before_request
def started() -> None:
    g.started = time.perf_counter()


@app.after_request
def counted(response: Response) -> Response:
    if request.path != "/metrics":
        route = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        DURATION.labels(request.method, route).observe(time.perf_counter() - g.started)
    return response


@app.get("/orders")
def orders() -> dict[str, list[str]]:
    return {"orders": []}


@app.get("/fail")
def fail() -> tuple[dict[str, str], int]:
    return {"error": "failing on purpose"}, 500


@app.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]))
