#!/usr/bin/env python3
"""A tiny stand-in for FROST or APISIX in saga checks: answers every request with one status.

    scripts/fake-http.py PORT [STATUS] [DELAY_SECONDS]

Every request (any method, any path) waits DELAY_SECONDS (default 0), then gets STATUS
(default 500) and a small JSON body. Each request is logged to stderr as `METHOD PATH`.
"""
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
STATUS = int(sys.argv[2]) if len(sys.argv) > 2 else 500
DELAY = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0


class Handler(BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        time.sleep(DELAY)
        body = b'{"error_msg":"fake-http answers %d"}' % STATUS
        self.send_response(STATUS)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        sys.stderr.write("%s %s\n" % (self.command, self.path))
        sys.stderr.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = answer

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
