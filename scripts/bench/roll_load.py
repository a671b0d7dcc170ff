"""Orders through a frontend until a stop file appears, measuring how long each write waits.

usage: roll_load.py FRONTEND_HOST:PORT PRODUCT STOP_FILE [THREADS]
Each thread places one order at a time with its own idempotency key and retries it with the
same key (on no answer, 421 or 503) until it is acknowledged, so nothing is doubled. A
write's wait is from its first attempt to its acknowledgement. At the end every acknowledged
order is read back. Prints one JSON line: orders, the longest wait and its p99 in ms, when
the longest wait began (UTC, to find it in the node logs), and how many acknowledged orders
could not be read back (lost). With ROLL_LOAD_WAITS=FILE in the environment, every write's
start (Unix seconds) and wait (ms) are also written to FILE, a line each, for a caller that
splits the run into phases.
"""
import http.client
import json
import os
import sys
import threading
import time
import uuid


def connect(addr):
    host, port = addr.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=5)


def worker(addr, product, stop_file, waits, acked, lock):
    c = connect(addr)
    body = json.dumps({"name": product, "quantity": 1})
    while not os.path.exists(stop_file):
        key = uuid.uuid4().hex
        t0 = time.monotonic()
        began = time.time()
        while True:
            try:
                c.request("POST", "/orders", body=body,
                          headers={"Content-Type": "application/json", "Idempotency-Key": key})
                r = c.getresponse()
                data = r.read()
                if r.status == 200:
                    number = json.loads(data)["data"]["number"]
                    break
                if r.status not in (421, 503, 504):
                    raise SystemExit(f"order refused: {r.status} {data[:200]!r}")
            except (OSError, http.client.HTTPException):
                c.close()
                c = connect(addr)
            time.sleep(0.005)
        with lock:
            waits.append(((time.monotonic() - t0) * 1000.0, began))
            acked.append(number)


def main():
    addr, product, stop_file = sys.argv[1], sys.argv[2], sys.argv[3]
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    waits, acked, lock = [], [], threading.Lock()
    pool = [threading.Thread(target=worker, args=(addr, product, stop_file, waits, acked, lock))
            for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    c = connect(addr)
    lost = 0
    for number in acked:
        for _ in range(50):
            try:
                c.request("GET", f"/orders/{number}")
                r = c.getresponse()
                r.read()
                if r.status == 200:
                    break
                if r.status == 404:
                    lost += 1
                    break
            except (OSError, http.client.HTTPException):
                c.close()
                c = connect(addr)
            time.sleep(0.1)
    if os.environ.get("ROLL_LOAD_WAITS"):
        with open(os.environ["ROLL_LOAD_WAITS"], "w") as f:
            for wait, began in waits:
                f.write(f"{began:.3f} {wait:.1f}\n")
    waits.sort()
    p99 = waits[int(len(waits) * 0.99)][0] if waits else 0.0
    longest, began = waits[-1] if waits else (0.0, time.time())
    print(json.dumps({"orders": len(acked), "max_wait_ms": round(longest, 1),
                      "max_wait_began": time.strftime("%H:%M:%S", time.gmtime(began))
                      + f".{int(began * 1000) % 1000:03d}Z",
                      "p99_wait_ms": round(p99, 1), "lost": lost}))


if __name__ == "__main__":
    main()
