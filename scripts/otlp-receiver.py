#!/usr/bin/env python3
"""A minimal OTLP/HTTP receiver for tests: accepts POST /v1/traces with JSON bodies
(OTEL_EXPORTER_OTLP_PROTOCOL=http/json) and appends one line per span to OUT:
`<traceId> <spanId> <parentSpanId> <name> <service.name>`. Binds 127.0.0.1 and stops by itself
after LIFETIME seconds.

Usage: otlp-receiver.py PORT OUT [LIFETIME=300]
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, out = int(sys.argv[1]), sys.argv[2]
lifetime = float(sys.argv[3]) if len(sys.argv) > 3 else 300.0
lock = threading.Lock()


def service_name(resource):
    for attr in resource.get("attributes", []):
        if attr.get("key") == "service.name":
            return attr.get("value", {}).get("stringValue", "")
    return ""


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(min(length, 16 * 1024 * 1024))
        lines = []
        try:
            data = json.loads(body)
            for rs in data.get("resourceSpans", []):
                service = service_name(rs.get("resource", {}))
                for ss in rs.get("scopeSpans", []):
                    for span in ss.get("spans", []):
                        lines.append(" ".join([
                            span.get("traceId", "").lower(),
                            span.get("spanId", "").lower(),
                            (span.get("parentSpanId") or "-").lower(),
                            span.get("name", "").replace(" ", "_"),
                            service or "-",
                        ]))
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        with lock, open(out, "a") as f:
            for line in lines:
                f.write(line + "\n")
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
threading.Timer(lifetime, server.shutdown).start()
server.serve_forever()
