"""Time from an order acknowledged by a node to the frontend's cache showing it.

usage: invalidation_lag.py FRONTEND_HOST:PORT NODE_HOST:PORT PRODUCT [SAMPLES]
Each sample primes the frontend's cache (a hit), orders one unit directly on the node,
then polls the frontend until the product's version reaches the order's log index (the
change feed invalidated the entry and a read refilled it). Prints p50/max in ms.
"""
import http.client
import json
import statistics
import sys
import time


def conn(addr):
    host, port = addr.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=5)


def get(c, path):
    c.request("GET", path)
    r = c.getresponse()
    return r, json.loads(r.read())


def main():
    frontend, node, product = sys.argv[1], sys.argv[2], sys.argv[3]
    samples = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    fe, nd = conn(frontend), conn(node)
    path = f"/products/{product}"
    lags = []
    for _ in range(samples):
        get(fe, path)
        r, _ = get(fe, path)
        if r.getheader("x-cache") != "hit":
            sys.exit(f"expected a cache hit before ordering, got {r.getheader('x-cache')}")
        nd.request("POST", "/orders", body=json.dumps({"name": product, "quantity": 1}),
                   headers={"Content-Type": "application/json"})
        resp = nd.getresponse()
        body = json.loads(resp.read())
        if resp.status != 200:
            sys.exit(f"order failed: {resp.status} {body}")
        index = body["data"]["index"]
        start = time.perf_counter()
        while get(fe, path)[1]["data"]["version"] < index:
            if time.perf_counter() - start > 5:
                sys.exit("the frontend did not see the order within 5 s")
        lags.append((time.perf_counter() - start) * 1000)
        time.sleep(0.05)
    print(f"{statistics.median(lags):.2f} ms p50, {max(lags):.2f} ms max ({samples} samples)")


if __name__ == "__main__":
    main()
