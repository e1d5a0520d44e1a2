#!/usr/bin/env python3
"""Load for scripts/chaos.sh: COUNT user creates against URL/execute, CONCURRENCY at a time,
usernames PREFIX-<n>. Writes one JSON line per request to OUT: n, HTTP status (0: no answer)
and event_id. Each request waits at most 60 s. Exits 0 whatever the answers (the script
judges them)."""
import json
import sys
import threading
import urllib.error
import urllib.request

url, prefix, count, concurrency, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
delay = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
lock = threading.Lock()
results = []
next_n = [0]


def one(n):
    body = json.dumps({"system": "local", "object_type": "user", "action": "create",
                       "params": {"username": f"{prefix}-{n}", "password": "chaos-secret"}}).encode()
    request = urllib.request.Request(url + "/execute", data=body,
                                     headers={"content-type": "application/json"})
    status, event_id = 0, None
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            status = answer.status
            event_id = json.load(answer).get("event_id")
    except urllib.error.HTTPError as error:
        status = error.code
    except Exception:  # no answer: refused, reset, timed out
        status = 0
    return {"n": n, "status": status, "event_id": event_id}


def worker():
    import time
    while True:
        with lock:
            n = next_n[0]
            if n >= count:
                return
            next_n[0] += 1
        result = one(n)
        with lock:
            results.append(result)
        if delay:
            time.sleep(delay)


threads = [threading.Thread(target=worker) for _ in range(concurrency)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(out, "w") as f:
    for r in sorted(results, key=lambda r: r["n"]):
        f.write(json.dumps(r) + "\n")
