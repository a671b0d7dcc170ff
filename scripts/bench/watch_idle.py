"""Single-client order latency on a node with and without idle /watch streams: measures
orders alone, then with N streams open that never read a byte (each `GET /watch?from=0`
on its own connection), then alone again, and prints each phase's p50, p90 and mean.

usage: watch_idle.py [--streams N] [--requests R] [--product NAME] HOST:PORT
  HOST:PORT   the node's api address (the leader: orders go there directly)
  --product   a product with enough stock for every order (one unit each)
The node must accept N streams (`raft.watch_max_streams` >= N); streams it refuses are
counted and printed. Any order answer other than 200 stops the run with an error.
"""
import argparse
import http.client
import json
import socket
import sys
import time


def orders(host, port, product, n):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    body = json.dumps({"name": product, "quantity": 1})
    took = []
    for _ in range(n):
        started = time.perf_counter()
        conn.request("POST", "/orders", body, {"Content-Type": "application/json"})
        reply = conn.getresponse()
        reply.read()
        took.append((time.perf_counter() - started) * 1e6)
        if reply.status != 200:
            sys.exit(f"watch_idle.py: an order answered {reply.status}")
    conn.close()
    return sorted(took)


def report(label, t):
    print(f"{label:<28} p50 {t[len(t) // 2]:>7.0f} us  p90 {t[int(len(t) * 0.9)]:>7.0f} us  "
          f"mean {sum(t) / len(t):>7.0f} us  ({len(t)} orders)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--product", default="Bench")
    parser.add_argument("node")
    args = parser.parse_args()
    host, _, port = args.node.rpartition(":")
    port = int(port)

    report("no streams", orders(host, port, args.product, args.requests))
    socks = []
    for _ in range(args.streams):
        s = socket.create_connection((host, port), timeout=10)
        # A small receive window, so what the node sends piles up on its side.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /watch?from=0 HTTP/1.1\r\nHost: node\r\n\r\n")
        socks.append(s)
    # Every request read and answered by the node before the measurement starts.
    time.sleep(2)
    refused = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(12, socket.MSG_PEEK).startswith(b"HTTP/1.1 503"):
                refused += 1
        except BlockingIOError:
            pass
    report(f"{args.streams} idle streams ({refused} refused)",
           orders(host, port, args.product, args.requests))
    for s in socks:
        s.close()
    time.sleep(2)
    report("no streams, again", orders(host, port, args.product, args.requests))


if __name__ == "__main__":
    main()
