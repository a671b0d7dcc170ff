# The table of scripts/bench-shedding.sh: its three runs (bazaar load JSON, RSS samples,
# orders stored) side by side.
# usage: python3 shedding_table.py WORK_DIR LOW HIGH
import json, sys
work, low, high = sys.argv[1], sys.argv[2], sys.argv[3]
def mb(path, first=False):
    vals = [int(l) for l in open(path) if l.strip()]
    if not vals:
        return 0
    return int((vals[0] if first else max(vals)) / 1024)
def quarters(path):
    """RSS (MB) at a quarter, half, three quarters and the end of the run's samples."""
    vals = [int(l) for l in open(path) if l.strip()]
    if not vals:
        return [0, 0, 0, 0]
    return [int(vals[min(len(vals) - 1, len(vals) * q // 4)] / 1024) for q in (1, 2, 3, 4)]
rows = []
for label in ("low", "high", "ignore"):
    r = json.load(open(f"{work}/{label}.json"))
    errors = r.get("errors", {})
    waited = sum(n for k, n in errors.items() if k.startswith("timeout"))
    rows.append({
        "rps": r["throughput_rps"],
        "lookup_p99": r["lookup_ms"]["p99"],
        "order_p99": r["order_ms"]["p99"],
        "shed": sum(r.get("shed", {}).values()),
        "waited": waited,
        "other": sum(errors.values()) - waited,
        # Every acknowledged order, the warm-up's included (only the timing leaves it out).
        "acked": r["verified"],
        "stored": int(open(f"{work}/{label}.stored").read()),
        "verified": r["verified"],
        "mismatches": len(r["mismatches"]),
        "fe": f"{mb(f'{work}/{label}.rss.frontend', True)}/{mb(f'{work}/{label}.rss.frontend')}",
        "fe_over_run": "/".join(str(v) for v in quarters(f"{work}/{label}.rss.frontend")),
        "nodes_peak": mb(f"{work}/{label}.rss.nodes"),
    })
low_row, high_row = rows[0], rows[1]
fmt = "{:<42} {:>11} {:>11} {:>11} {:>11}"
print()
print(f"== load shedding: {low} vs {high} sessions through the frontend (3 nodes, 2 cores shared) ==")
print("(latencies and requests/s after each run's warm-up; orders counted from its start)")
print(fmt.format("measure", f"{low} sess.", f"{high} sess.", f"{high} ign.RA", f"{high}/{low}"))
def show(v):
    return f"{v:.1f}" if isinstance(v, float) else str(v)
def line(name, key, with_ratio=False):
    ratio = ""
    if with_ratio and low_row[key]:
        ratio = f"{high_row[key] / low_row[key]:.2f}"
    print(fmt.format(name, *[show(r[key]) for r in rows], ratio))
line("requests/s (lookups and orders)", "rps", True)
line("admitted lookups p99, ms (target <= 2x)", "lookup_p99", True)
line("orders p99, first send to ack, ms", "order_p99", True)
line("shed answers (503 overloaded, 429)", "shed")
line("deadlines waited out (timeouts)", "waited")
line("other errors", "other")
line("frontend RSS at start/peak, MB", "fe")
line("frontend RSS at 1/4, 1/2, 3/4, end, MB", "fe_over_run")
line("largest node RSS peak, MB", "nodes_peak", True)
print(fmt.format("orders acknowledged/stored (equal)", *[f"{r['acked']}/{r['stored']}" for r in rows], ""))
print(fmt.format("orders read back/mismatched", *[f"{r['verified']}/{r['mismatches']}" for r in rows], ""))
