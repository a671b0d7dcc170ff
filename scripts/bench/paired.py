"""Paired single-client latency: alternates requests one by one between two endpoints, so
both builds under comparison see the same machine at the same moment (this project's
machines are shared and their disks change speed from minute to minute).

usage: paired.py [--requests N] [--lookup PRODUCT | --order PRODUCT] LABEL=HOST:PORT LABEL=HOST:PORT
  --order PRODUCT   POST /orders of one unit of PRODUCT (the default, product "Bench")
  --lookup PRODUCT  GET /products/PRODUCT
Each endpoint gets N requests on one kept-alive connection; the order of the pair flips
every round. Prints p50, p90 and mean per endpoint, in microseconds. Any answer other than
200/201 stops the run with an error.
"""
import argparse
import http.client
import json
import sys
import time


def endpoint(text):
    label, _, addr = text.partition("=")
    host, _, port = addr.rpartition(":")
    if not label or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected LABEL=HOST:PORT, got {text!r}")
    return label, host, int(port)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1500)
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--order", metavar="PRODUCT")
    kind.add_argument("--lookup", metavar="PRODUCT")
    parser.add_argument("endpoints", type=endpoint, nargs=2, metavar="LABEL=HOST:PORT")
    args = parser.parse_args()
    if args.lookup:
        method, path, body, headers = "GET", f"/products/{args.lookup}", None, {}
    else:
        body = json.dumps({"name": args.order or "Bench", "quantity": 1})
        method, path, headers = "POST", "/orders", {"Content-Type": "application/json"}
    conns = {label: http.client.HTTPConnection(host, port, timeout=10)
             for label, host, port in args.endpoints}
    labels = [label for label, _, _ in args.endpoints]
    if labels[0] == labels[1]:
        sys.exit("paired.py: give the two endpoints different labels")
    took = {label: [] for label in labels}
    for i in range(args.requests):
        for label in labels if i % 2 == 0 else labels[::-1]:
            started = time.perf_counter()
            conns[label].request(method, path, body, headers)
            reply = conns[label].getresponse()
            reply.read()
            took[label].append((time.perf_counter() - started) * 1e6)
            if reply.status not in (200, 201):
                sys.exit(f"paired.py: {label} answered {reply.status} to {method} {path}")
    for label in labels:
        t = sorted(took[label])
        print(f"{label:<10} p50 {t[len(t) // 2]:>7.0f} us  p90 {t[int(len(t) * 0.9)]:>7.0f} us  "
              f"mean {sum(t) / len(t):>7.0f} us  ({len(t)} requests)")


if __name__ == "__main__":
    main()
