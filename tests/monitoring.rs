//! The monitoring files against the processes they watch: every `bazaar_*` series that
//! deploy/monitoring/alerts.yml's rules and dashboard.json's queries name is one that a real
//! node or frontend exports, with the label names and values its selectors ask for, and
//! queried as its type allows (counters and histogram parts through `rate()`/`increase()`,
//! gauges never). A renamed or misspelled metric fails here instead of leaving an alert that
//! can never fire or an empty panel. promtool's own checks of the same files are
//! scripts/check-monitoring.sh.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{repo_root, wait_for, Frontend, TestCluster, DEADLINE};
use serde_json::{json, Value};

/// Functions whose argument is a counter (or a histogram's `_bucket`, `_sum`, `_count`).
const RATE_FUNCTIONS: [&str; 3] = ["rate", "irate", "increase"];
/// Labels Prometheus adds to every series of a target; no process exports them itself.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];

/// One series name a query uses: where it sits and what it selects.
#[derive(Debug, Clone, PartialEq)]
struct Reference {
    name: String,
    /// Directly the argument of `rate(`, `irate(` or `increase(`.
    under_rate: bool,
    /// `(label, operator, value)` of each matcher in its `{...}`.
    matchers: Vec<(String, String, String)>,
}

/// What one sample name looked like in the scrapes: its family's type and every label
/// name with the values seen.
#[derive(Debug, Default)]
struct Exported {
    kind: String,
    labels: BTreeMap<String, BTreeSet<String>>,
}

/// `expr:` values of a Prometheus rules file, read as text (the root package has no YAML
/// parser): the rest of the line, or the lines of a `|`/`>` block indented under it.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut exprs = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let Some(rest) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let rest = rest.trim();
        if rest.starts_with('|') || rest.starts_with('>') {
            let mut body = Vec::new();
            while i < lines.len() && (lines[i].trim().is_empty() || indent(lines[i]) > indent(line))
            {
                body.push(lines[i].trim());
                i += 1;
            }
            exprs.push(body.join("\n").trim().to_string());
        } else {
            let unquoted = rest
                .strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .or_else(|| rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
                .unwrap_or(rest);
            exprs.push(unquoted.to_string());
        }
    }
    exprs
}

/// Every query of a Grafana dashboard: each panel target's `expr` (rows' panels included)
/// and each query variable's definition.
fn dashboard_exprs(board: &Value) -> Vec<String> {
    fn panels(list: &Value, out: &mut Vec<String>) {
        for panel in list.as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push(expr.to_string());
                }
            }
            panels(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    panels(&board["panels"], &mut out);
    for variable in board["templating"]["list"].as_array().into_iter().flatten() {
        if variable["type"] == "query" {
            if let Some(definition) = variable["definition"].as_str() {
                out.push(definition.to_string());
            }
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Reads a quoted string starting at `chars[*i]` (the quote); leaves `*i` past its end.
fn quoted(chars: &[char], i: &mut usize) -> String {
    let quote = chars[*i];
    let mut out = String::new();
    *i += 1;
    while *i < chars.len() && chars[*i] != quote {
        if chars[*i] == '\\' && *i + 1 < chars.len() {
            *i += 1;
        }
        out.push(chars[*i]);
        *i += 1;
    }
    *i += 1;
    out
}

fn skip_space(chars: &[char], i: &mut usize) {
    while *i < chars.len() && chars[*i].is_whitespace() {
        *i += 1;
    }
}

/// Whether the identifier ending just before `start` (past whitespace and one `(`) is a
/// rate-like function: `rate(NAME`.
fn directly_under_rate(chars: &[char], start: usize) -> bool {
    let mut j = start;
    while j > 0 && chars[j - 1].is_whitespace() {
        j -= 1;
    }
    if j == 0 || chars[j - 1] != '(' {
        return false;
    }
    j -= 1;
    while j > 0 && chars[j - 1].is_whitespace() {
        j -= 1;
    }
    let end = j;
    while j > 0 && is_ident(chars[j - 1]) {
        j -= 1;
    }
    let function: String = chars[j..end].iter().collect();
    RATE_FUNCTIONS.contains(&function.as_str())
}

/// The `bazaar_*` series a PromQL expression names, with their matchers. Strings are
/// skipped (a label value is not a series), and so is every other identifier: `up`,
/// functions, label names in `by (...)`, Grafana's `$variables`.
fn references(expr: &str) -> Vec<Reference> {
    let chars: Vec<char> = expr.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            quoted(&chars, &mut i);
            continue;
        }
        if !is_ident(c) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        let name: String = chars[start..i].iter().collect();
        if !name.starts_with("bazaar_") {
            continue;
        }
        let mut reference = Reference {
            name,
            under_rate: directly_under_rate(&chars, start),
            matchers: Vec::new(),
        };
        let mut j = i;
        skip_space(&chars, &mut j);
        if j < chars.len() && chars[j] == '{' {
            j += 1;
            loop {
                skip_space(&chars, &mut j);
                if j >= chars.len() || chars[j] == '}' {
                    break;
                }
                let label_start = j;
                while j < chars.len() && is_ident(chars[j]) {
                    j += 1;
                }
                let label: String = chars[label_start..j].iter().collect();
                skip_space(&chars, &mut j);
                let op_start = j;
                while j < chars.len() && "=!~".contains(chars[j]) {
                    j += 1;
                }
                let op: String = chars[op_start..j].iter().collect();
                skip_space(&chars, &mut j);
                assert!(
                    !label.is_empty() && !op.is_empty() && j < chars.len(),
                    "cannot read the selector of {} in {expr:?}",
                    reference.name
                );
                let value = quoted(&chars, &mut j);
                reference.matchers.push((label, op, value));
                skip_space(&chars, &mut j);
                if j < chars.len() && chars[j] == ',' {
                    j += 1;
                }
            }
            i = j + 1;
        }
        found.push(reference);
    }
    found
}

/// Reads the labels of a sample line from just after its `{`; returns them and the index
/// past the `}`.
fn sample_labels(chars: &[char], mut i: usize) -> (Vec<(String, String)>, usize) {
    let mut labels = Vec::new();
    loop {
        skip_space(chars, &mut i);
        if i >= chars.len() || chars[i] == '}' {
            return (labels, i + 1);
        }
        let start = i;
        while i < chars.len() && chars[i] != '=' {
            i += 1;
        }
        let name: String = chars[start..i].iter().collect();
        i += 1;
        let value = quoted(chars, &mut i);
        labels.push((name.trim().to_string(), value));
        skip_space(chars, &mut i);
        if i < chars.len() && chars[i] == ',' {
            i += 1;
        }
    }
}

/// Adds one Prometheus/OpenMetrics text exposition to `into`: every sample name with the
/// type of the family it came under (`# TYPE`) and its labels.
fn add_exposition(text: &str, into: &mut BTreeMap<String, Exported>) {
    let mut kind = String::from("unknown");
    for line in text.lines() {
        if let Some(meta) = line.strip_prefix("# TYPE ") {
            kind = meta
                .split_whitespace()
                .nth(1)
                .unwrap_or("unknown")
                .to_string();
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let end = chars
            .iter()
            .position(|c| *c == '{' || c.is_whitespace())
            .unwrap_or(chars.len());
        let name: String = chars[..end].iter().collect();
        let labels = if chars.get(end) == Some(&'{') {
            sample_labels(&chars, end + 1).0
        } else {
            Vec::new()
        };
        let exported = into.entry(name).or_default();
        exported.kind = kind.clone();
        for (label, value) in labels {
            exported.labels.entry(label).or_default().insert(value);
        }
    }
}

/// What is wrong with `reference` given what the processes export; empty when nothing.
fn problems(
    reference: &Reference,
    exported: &BTreeMap<String, Exported>,
    origin: &str,
) -> Vec<String> {
    let name = &reference.name;
    let Some(series) = exported.get(name) else {
        // The names that share its first three words (`bazaar_node_raft`), as hints.
        let stem: Vec<&str> = name.splitn(4, '_').take(3).collect();
        let stem = stem.join("_");
        let near: Vec<&String> = exported.keys().filter(|k| k.starts_with(&stem)).collect();
        return vec![format!(
            "{origin}: {name} is not exported by any process (exported under {stem}: {near:?})"
        )];
    };
    let mut out = Vec::new();
    let rated_kind = series.kind == "counter" || series.kind == "histogram";
    if rated_kind && !reference.under_rate {
        out.push(format!(
            "{origin}: {name} is a {} series: query it through rate() or increase()",
            series.kind
        ));
    }
    if !rated_kind && reference.under_rate {
        out.push(format!(
            "{origin}: {name} is a {}: rate() and increase() are for counters",
            series.kind
        ));
    }
    for (label, op, value) in &reference.matchers {
        if TARGET_LABELS.contains(&label.as_str()) {
            continue;
        }
        match series.labels.get(label) {
            None => out.push(format!(
                "{origin}: {name} has no label {label:?} (it has {:?})",
                series.labels.keys().collect::<Vec<_>>()
            )),
            Some(values) if op == "=" && !values.contains(value) => out.push(format!(
                "{origin}: {name}{{{label}={value:?}}} matches nothing (values seen: {values:?})"
            )),
            Some(_) => {}
        }
    }
    out
}

/// Every problem of every reference of `exprs` (`origin` names the file).
fn check_all(
    exprs: &[(String, Vec<Reference>)],
    exported: &BTreeMap<String, Exported>,
) -> Vec<String> {
    exprs
        .iter()
        .flat_map(|(origin, refs)| refs.iter().flat_map(|r| problems(r, exported, origin)))
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The queries of both files, each with the file it came from and the series it names.
fn monitoring_queries() -> Vec<(String, Vec<Reference>)> {
    let dir = repo_root().join("deploy/monitoring");
    let alerts = read(&dir.join("alerts.yml"));
    let rules = rule_exprs(&alerts);
    let alert_count = alerts
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    assert!(alert_count > 0, "alerts.yml has no alert");
    assert_eq!(
        rules.len(),
        alert_count,
        "one expr per alert in alerts.yml: {rules:#?}"
    );
    let board: Value =
        serde_json::from_str(&read(&dir.join("dashboard.json"))).expect("dashboard.json is JSON");
    let panels = dashboard_exprs(&board);
    assert!(!panels.is_empty(), "dashboard.json has no query");
    let mut queries = Vec::new();
    for expr in rules {
        queries.push((format!("alerts.yml `{expr}`"), references(&expr)));
    }
    for expr in panels {
        queries.push((format!("dashboard.json `{expr}`"), references(&expr)));
    }
    queries
}

async fn scrape(http: &reqwest::Client, url: &str) -> Option<String> {
    let resp = http.get(url).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.text().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_series_the_alerts_and_the_dashboard_query_is_exported() {
    let queries = monitoring_queries();
    let named: BTreeSet<&str> = queries
        .iter()
        .flat_map(|(_, refs)| refs.iter().map(|r| r.name.as_str()))
        .collect();
    assert!(
        named.iter().any(|n| n.starts_with("bazaar_node_"))
            && named.iter().any(|n| n.starts_with("bazaar_frontend_")),
        "the files name series of both processes: {named:?}"
    );

    let cluster = TestCluster::start(3).await;
    let fe = Frontend::start(&cluster, &[], &[]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .expect("http client");
    wait_for("the frontend to be ready", || async {
        let resp = http.get(fe.url("/readyz")).send().await.ok()?;
        resp.status().is_success().then_some(())
    })
    .await;
    // Series that exist only once something happened: the per-route counters and
    // latencies (requests on each route), the feed's age (its first catch-up), the disk
    // figures (the first measurement), the quorum's age (on the leader).
    let mut orders = Vec::new();
    for n in 0..2 {
        let resp = http
            .post(fe.url("/orders"))
            .header("Idempotency-Key", format!("monitoring-{n}"))
            .json(&json!({"name": "Tux", "quantity": 1}))
            .send()
            .await
            .expect("the frontend answers an order");
        assert_eq!(resp.status().as_u16(), 200, "an order through the frontend");
        let body: Value = resp.json().await.expect("an order's answer is JSON");
        orders.push(
            body["data"]["order_number"]
                .as_u64()
                .unwrap_or_else(|| panic!("an order number in {body}")),
        );
    }
    let leader = cluster.leader().await;
    for url in [
        fe.url("/products/Tux"),
        fe.url("/products/Tux"),
        fe.url("/search?topic=toys"),
        fe.url(&format!("/orders/{}", orders[0])),
        format!("{}/products/Tux", cluster.api_url(leader)),
    ] {
        let resp = http.get(&url).send().await.expect("a read is answered");
        assert!(resp.status().is_success(), "{url}: {}", resp.status());
    }

    let mut urls: Vec<String> = cluster
        .ids()
        .into_iter()
        .map(|id| format!("{}/metrics", cluster.api_url(id)))
        .collect();
    urls.push(fe.url("/metrics"));
    let start = Instant::now();
    loop {
        let mut exported = BTreeMap::new();
        for url in &urls {
            if let Some(text) = scrape(&http, url).await {
                add_exposition(&text, &mut exported);
            }
        }
        let found = check_all(&queries, &exported);
        if found.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "queries name series the processes do not export as asked:\n  {}",
            found.join("\n  ")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The checks themselves, on a fixed exposition: each kind of mistake is reported.
#[test]
fn a_misspelled_name_a_rated_gauge_and_an_unknown_label_value_are_reported() {
    let text = "# TYPE bazaar_node_orders_created counter\n\
                bazaar_node_orders_created_total 5\n\
                # TYPE bazaar_node_raft_term gauge\n\
                bazaar_node_raft_term 3\n\
                # TYPE bazaar_node_step_duration_seconds histogram\n\
                bazaar_node_step_duration_seconds_bucket{le=\"0.1\",step=\"apply\"} 1\n\
                # TYPE bazaar_node_http_requests counter\n\
                bazaar_node_http_requests_total{route=\"/products/{name}\",status=\"200\"} 2\n\
                # EOF\n";
    let mut exported = BTreeMap::new();
    add_exposition(text, &mut exported);
    assert_eq!(
        exported["bazaar_node_http_requests_total"].labels["route"],
        BTreeSet::from(["/products/{name}".to_string()])
    );
    let check = |expr: &str| check_all(&[("t".to_string(), references(expr))], &exported);
    let fine = [
        "max without (instance) (rate(bazaar_node_orders_created_total[5m])) > 4",
        "histogram_quantile(0.99, sum by (le) (rate(bazaar_node_step_duration_seconds_bucket{step=\"apply\", instance=~\"$node\"}[$__rate_interval])))",
        "changes(bazaar_node_raft_term[15m]) > 4 and up{job=~\"bazaar.*\"} == 1",
        "sum(rate(bazaar_node_http_requests_total{route=~\"/products.*\", status!=\"507\"}[5m]))",
    ];
    for expr in fine {
        assert_eq!(check(expr), Vec::<String>::new(), "{expr}");
    }
    let wrong = [
        ("rate(bazaar_node_orders_creatd_total[5m])", "not exported"),
        (
            "rate(bazaar_node_raft_term[5m])",
            "rate() and increase() are for counters",
        ),
        (
            "bazaar_node_orders_created_total > 3",
            "query it through rate()",
        ),
        (
            "rate(bazaar_node_step_duration_seconds_bucket{step=\"log-sync\"}[5m])",
            "matches nothing",
        ),
        (
            "rate(bazaar_node_http_requests_total{path=~\"/orders\"}[5m])",
            "has no label \"path\"",
        ),
    ];
    for (expr, why) in wrong {
        let found = check(expr);
        assert!(
            found.len() == 1 && found[0].contains(why),
            "{expr}: expected one problem saying {why:?}, got {found:?}"
        );
    }
}

#[test]
fn rule_exprs_reads_inline_and_block_values() {
    let yaml = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: bazaar_node_raft_has_leader == 0\n        for: 1m\n      - alert: B\n        # a comment\n        expr: |\n          max without (instance) (\n            bazaar_node_alarm_active) > 0\n        for: 0s\n      - alert: C\n        expr: \"up == 0\"\n";
    assert_eq!(
        rule_exprs(yaml),
        vec![
            "bazaar_node_raft_has_leader == 0".to_string(),
            "max without (instance) (\nbazaar_node_alarm_active) > 0".to_string(),
            "up == 0".to_string(),
        ]
    );
    let refs = references("max without (instance) (\nbazaar_node_alarm_active) > 0");
    assert_eq!(
        refs,
        vec![Reference {
            name: "bazaar_node_alarm_active".to_string(),
            under_rate: false,
            matchers: Vec::new(),
        }]
    );
}
