#!/usr/bin/env python3
"""A flaky stand-in for FROST or APISIX in scripts/chaos.sh: answers its first FAIL_FIRST
requests 500, every later one 201 with a FROST-style body (`@iot.id`) and a Location header,
each after DELAY_SECONDS.

    scripts/chaos-http.py PORT FAIL_FIRST DELAY_SECONDS

Each request is logged to stderr as `STATUS METHOD PATH`."""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, FAIL_FIRST, DELAY = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
lock = threading.Lock()
seen = [0]


class Handler(BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        with lock:
            seen[0] += 1
            n = seen[0]
        time.sleep(DELAY)
        status = 500 if n <= FAIL_FIRST else 201
        body = json.dumps({"@iot.id": n} if status == 201 else {"error_msg": "chaos: not yet"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if status == 201:
            self.send_header("Location", "http://127.0.0.1:%d/Projects(%d)" % (PORT, n))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        sys.stderr.write("%d %s %s\n" % (status, self.command, self.path))
        sys.stderr.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # A client killed mid-request (the chaos suite kills `civitas up`): not our error.
        pass


Server(("127.0.0.1", PORT), Handler).serve_forever()
