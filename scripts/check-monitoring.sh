#!/usr/bin/env bash
# Checks the monitoring files in deploy/monitoring/: the alert rules (`promtool check
# rules`), their unit tests against the series written in alerts.test.yml (`promtool test
# rules`), and the Grafana dashboard: that it parses as JSON, that every panel queries
# through the ${DS_PROMETHEUS} variable, and that every panel's query parses as PromQL
# (each one, with Grafana's variables filled in, becomes a recording rule that `promtool
# check rules` reads); and the syntax of prometheus.yml, the scrape configuration of the
# compose profile `monitoring` (tests/docker_monitoring.rs runs it). Installs promtool
# (Debian's `prometheus` package) when it is missing.
# That every series the files name is one the processes export is tests/monitoring.rs's
# job (it runs the binaries).
#
# usage: scripts/check-monitoring.sh [--help]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    *) bad_usage "unknown argument $1" ;;
  esac
done
cd "$BAZAAR_ROOT"
dir=deploy/monitoring

need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v python3 >/dev/null || need+=(python3)
apt_install "for promtool, which checks the alert rules, and python3 for the dashboard" "${need[@]}"

step "alert rules (promtool check rules)"
promtool check rules "$dir/alerts.yml"
step "alert rule tests (promtool test rules)"
promtool test rules "$dir/alerts.test.yml"
step "compose profile's scrape configuration (promtool check config)"
# Syntax only: its rule file and CA are paths inside the container.
(cd "$dir" && promtool check config --syntax-only prometheus.yml)

step "dashboard (JSON, datasource, every query parses as PromQL)"
tmp=$(mktemp -d -t bazaar-monitoring.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
python3 - "$dir/dashboard.json" "$tmp/dashboard-queries.yml" <<'PY'
import json, re, sys

path, out = sys.argv[1], sys.argv[2]
try:
    with open(path) as f:
        board = json.load(f)
except (OSError, ValueError) as e:
    sys.exit(f"error: {path}: {e}")
problems = []
variables = {v.get("name"): v for v in board.get("templating", {}).get("list", [])}
ds = variables.get("DS_PROMETHEUS")
if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
    problems.append("no datasource variable DS_PROMETHEUS of type prometheus")
# What Grafana puts in for its own and the dashboard's variables, for promtool's parser.
fill = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
fill.update({name: ".*" for name in variables if name != "DS_PROMETHEUS"})

def filled(expr):
    def one(m):
        name = m.group(1) or m.group(2)
        if name not in fill:
            problems.append(f"unknown variable ${name} in {expr!r}")
        return fill.get(name, "x")
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)

def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))

rules = []
for p in panels(board.get("panels", [])):
    if p.get("type") == "row":
        continue
    where = f"panel {p.get('id')} ({p.get('title')!r})"
    if p.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
        problems.append(f"{where}: its datasource is not ${{DS_PROMETHEUS}}")
    targets = p.get("targets", [])
    if not targets:
        problems.append(f"{where}: no query")
    for t in targets:
        if t.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
            problems.append(f"{where} query {t.get('refId')}: its datasource is not ${{DS_PROMETHEUS}}")
        expr = t.get("expr", "").strip()
        if not expr:
            problems.append(f"{where} query {t.get('refId')}: empty expr")
            continue
        rules.append((f"dashboard:panel_{p.get('id')}_{t.get('refId')}", filled(expr)))
if not rules:
    problems.append("no panel queries at all")
if problems:
    sys.exit("error: " + path + ":\n  " + "\n  ".join(problems))
with open(out, "w") as f:
    f.write("groups:\n  - name: dashboard-queries\n    rules:\n")
    for record, expr in rules:
        # A JSON string is a YAML double-quoted scalar.
        f.write(f"      - record: {record}\n        expr: {json.dumps(expr)}\n")
print(f"{path}: {len(rules)} queries")
PY
promtool check rules "$tmp/dashboard-queries.yml"
echo "monitoring files OK"
