//! The compose profile `monitoring` (docker-compose.yml): Prometheus, from the image
//! scripts/build-prometheus-image.sh builds offline, beside the cluster's containers,
//! scraping every node and the frontend over TLS with deploy/monitoring/prometheus.yml and
//! evaluating deploy/monitoring/alerts.yml. Prometheus must come to show exactly the three
//! nodes and the frontend as its targets, every one up, in jobs the target-down rule
//! selects, and every group and alert of alerts.yml loaded and evaluated without error.
//!
//! Needs a Docker engine (`docker info`) and Compose (`docker compose`, or `docker-compose`
//! v1.28+, the first with profiles), so it is `#[ignore]`d: `scripts/test.sh` runs it when
//! an engine answers and otherwise reports it as skipped (never as passed). Run by hand with
//! `cargo test --release --test docker_monitoring -- --ignored --nocapture`. It needs the
//! release binaries (`cargo build --release --workspace --bins`) and Debian's `prometheus`
//! (the image script installs it when missing); both images get throwaway tags, and
//! everything the test creates (project, containers, network, volumes, images) is removed
//! on drop, also when it fails (`common/docker.rs`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::docker::Project;
use common::wait_reporting;
use serde_json::Value;

/// Container start-up, the cluster's election and Prometheus's first scrapes (every 5 s)
/// on a shared 2-core machine.
const DEADLINE: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(250);

/// The targets of deploy/monitoring/prometheus.yml: (job, instance).
fn expected_targets() -> BTreeSet<(String, String)> {
    [
        ("bazaar-node", "node1:7001"),
        ("bazaar-node", "node2:7002"),
        ("bazaar-node", "node3:7003"),
        ("bazaar-frontend", "frontend:8080"),
    ]
    .into_iter()
    .map(|(job, instance)| (job.to_string(), instance.to_string()))
    .collect()
}

/// The groups of a Prometheus rules file and the alerts of each, in order, read as text (the
/// root package has no YAML parser): `- name:` opens a group, `- alert:` names a rule.
fn alert_groups(yaml: &str) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for line in yaml.lines() {
        let line = line.trim_start();
        if let Some(name) = line.strip_prefix("- name:") {
            groups.push((unquote(name), Vec::new()));
        } else if let Some(alert) = line.strip_prefix("- alert:") {
            let group = groups.last_mut().expect("an alert before any group");
            group.1.push(unquote(alert));
        }
    }
    groups
}

fn unquote(value: &str) -> String {
    value
        .trim()
        .trim_matches('"')
        .trim_matches('\'')
        .to_string()
}

/// One target as /api/v1/targets shows it.
#[derive(Debug)]
struct Target {
    health: String,
    scrape_url: String,
    last_error: String,
}

/// GET `url` on Prometheus's published port: the `data` of a `success` answer.
async fn prometheus_data(http: &reqwest::Client, url: &str) -> Option<Value> {
    let resp = http
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let body: Value = resp.json().await.ok()?;
    (body["status"] == "success").then(|| body["data"].clone())
}

/// The active targets by (job, instance).
fn targets(data: &Value) -> BTreeMap<(String, String), Target> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    data["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                (text(&t["labels"]["job"]), text(&t["labels"]["instance"])),
                Target {
                    health: text(&t["health"]),
                    scrape_url: text(&t["scrapeUrl"]),
                    last_error: text(&t["lastError"]),
                },
            )
        })
        .collect()
}

/// Polls `check` until it gives `Ok`; `Err` is the state so far, shown if the deadline
/// passes (with Prometheus's log).
async fn wait_until<T, F, Fut>(project: &Project, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    wait_reporting(what, DEADLINE, POLL, check)
        .await
        .unwrap_or_else(|why| panic!("{why}\nprometheus log:\n{}", project.logs("prometheus")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Docker engine and Compose; scripts/test.sh runs it when `docker info` answers"]
async fn monitoring_profile_scrapes_every_process() {
    let started = Instant::now();
    let mut project = Project::prepare("monitoring", &["monitoring"]);
    let image = format!("bazaar-prometheus:test-{}", std::process::id());
    project.build_image("build-prometheus-image.sh", &image, &[]);
    let port = common::free_port();
    project.set_env("BAZAAR_PROMETHEUS_IMAGE", &image);
    project.set_env("BAZAAR_PROMETHEUS_PORT", &port.to_string());
    // The repository's files, whatever the caller's environment says.
    let config = common::repo_root().join("deploy/monitoring/prometheus.yml");
    project.set_env("BAZAAR_PROMETHEUS_CONFIG", &config.to_string_lossy());
    project.up();
    project.container("prometheus");
    let api = format!("http://127.0.0.1:{port}/api/v1");
    let http = reqwest::Client::new();

    // Every node and the frontend, and nothing else, scraped and up.
    let want = expected_targets();
    let up = wait_until(&project, "every target up", || async {
        let data = prometheus_data(&http, &format!("{api}/targets"))
            .await
            .ok_or("no answer from Prometheus")?;
        let seen = targets(&data);
        let all_up = seen.values().all(|t| t.health == "up");
        if seen.keys().cloned().collect::<BTreeSet<_>>() == want && all_up {
            Ok(seen)
        } else {
            Err(format!("{seen:#?}"))
        }
    })
    .await;
    println!(
        "every target up {:?} after the start: {:?}",
        started.elapsed(),
        up.keys().collect::<Vec<_>>()
    );
    for ((job, instance), target) in &up {
        // Over TLS, checked against the cluster's CA (tls_config in prometheus.yml).
        assert_eq!(
            target.scrape_url,
            format!("https://{instance}/metrics"),
            "{job} {instance} is scraped over HTTPS at /metrics"
        );
        assert!(
            target.last_error.is_empty(),
            "{job} {instance}: {}",
            target.last_error
        );
    }

    // What BazaarTargetDown selects is exactly these four, each at 1.
    let series = wait_until(&project, "up{job=~\"bazaar.*\"}", || async {
        let data = prometheus_data(
            &http,
            &format!("{api}/query?query=up%7Bjob%3D~%22bazaar.%2A%22%7D"),
        )
        .await
        .ok_or("no answer from Prometheus")?;
        let got: BTreeMap<(String, String), String> = data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let label = |l: &str| s["metric"][l].as_str().unwrap_or_default().to_string();
                let value = s["value"][1].as_str().unwrap_or_default().to_string();
                ((label("job"), label("instance")), value)
            })
            .collect();
        if got.keys().cloned().collect::<BTreeSet<_>>() == want {
            Ok(got)
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    assert!(
        series.values().all(|v| v == "1"),
        "up{{job=~\"bazaar.*\"}}: {series:?}"
    );

    // Every group and alert of alerts.yml loaded, from the mounted file, and each rule
    // evaluated at least once without an error.
    let yaml = std::fs::read_to_string(common::repo_root().join("deploy/monitoring/alerts.yml"))
        .expect("alerts.yml");
    // The API lists the groups in no set order, each group's rules in the file's order.
    let expected: BTreeMap<String, Vec<String>> = alert_groups(&yaml).into_iter().collect();
    assert!(
        expected.len() >= 4 && expected.values().all(|alerts| !alerts.is_empty()),
        "alerts.yml read as {expected:?}"
    );
    let loaded = wait_until(&project, "every rule loaded and evaluated", || async {
        let data = prometheus_data(&http, &format!("{api}/rules"))
            .await
            .ok_or("no answer from Prometheus")?;
        let mut groups = BTreeMap::new();
        for group in data["groups"].as_array().into_iter().flatten() {
            let name = group["name"].as_str().unwrap_or_default().to_string();
            assert_eq!(
                group["file"], "/etc/prometheus/bazaar/alerts.yml",
                "group {name} comes from the mounted alerts.yml"
            );
            let mut alerts = Vec::new();
            for rule in group["rules"].as_array().into_iter().flatten() {
                let alert = rule["name"].as_str().unwrap_or_default().to_string();
                assert_ne!(
                    rule["health"], "err",
                    "rule {alert} fails to evaluate: {}",
                    rule["lastError"]
                );
                if rule["health"] != "ok" || rule["type"] != "alerting" {
                    return Err(format!("{alert}: {rule}"));
                }
                alerts.push(alert);
            }
            groups.insert(name, alerts);
        }
        if groups == expected {
            Ok(groups)
        } else {
            Err(format!("{groups:?}"))
        }
    })
    .await;
    println!(
        "{} rule groups, {} alerts loaded and evaluated; done in {:?}",
        loaded.len(),
        loaded.values().map(Vec::len).sum::<usize>(),
        started.elapsed()
    );
}

#[test]
fn alert_groups_are_read_in_order() {
    let yaml = "groups:\n  - name: a\n    rules:\n      - alert: A1\n        expr: up == 0\n      - alert: \"A2\"\n  - name: 'b'\n    rules:\n      - alert: B1\n";
    assert_eq!(
        alert_groups(yaml),
        vec![
            ("a".to_string(), vec!["A1".to_string(), "A2".to_string()]),
            ("b".to_string(), vec!["B1".to_string()]),
        ]
    );
}
