"""Splits a run's latency into steps from two /metrics scrapes of each process.

usage: steps.py BEFORE_DIR AFTER_DIR NAME...
Each directory holds one scrape per process, BEFORE_DIR/NAME.prom. For every process it
prints the mean time of each `*_step_duration_seconds{step=...}` series and of the
`/orders` and `/orders/batch` routes' `*_http_request_duration_seconds` over the run (the
difference of the two scrapes' sums over the difference of their counts), and how many
were recorded.
"""
import os
import re
import sys

SERIES = re.compile(
    r'^(\w+)_(step_duration_seconds|http_request_duration_seconds)_(sum|count)\{([^}]*)\} (\S+)$')


def scrape(path):
    """{(kind, label): {"sum": s, "count": c}} from one scrape."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = SERIES.match(line.strip())
            if not m:
                continue
            _, kind, field, labels, value = m.groups()
            label = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            key = ("step", label.get("step")) if kind.startswith("step") else ("route", label.get("route"))
            if key[0] == "route" and key[1] not in ("/orders", "/orders/batch"):
                continue
            out.setdefault(key, {})[field] = float(value)
    return out


def main():
    before_dir, after_dir, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    print(f"{'process':<12} {'step':<28} {'mean':>10} {'count':>10}")
    for name in names:
        before = scrape(os.path.join(before_dir, f"{name}.prom"))
        after = scrape(os.path.join(after_dir, f"{name}.prom"))
        for key in sorted(after):
            a, b = after[key], before.get(key, {"sum": 0.0, "count": 0.0})
            count = a.get("count", 0.0) - b.get("count", 0.0)
            if count <= 0:
                continue
            mean_us = (a.get("sum", 0.0) - b.get("sum", 0.0)) / count * 1e6
            label = f"{key[1]}" if key[0] == "step" else f"http {key[1]} (whole)"
            print(f"{name:<12} {label:<28} {mean_us:>8.0f}us {int(count):>10}")


if __name__ == "__main__":
    main()
