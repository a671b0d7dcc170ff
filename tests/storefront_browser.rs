//! The storefront as a shopper and an operator meet it: headless Chromium, driven over
//! WebDriver by chromedriver, opens the page the real `frontend` binary serves in front
//! of a real 3-node cluster. It checks the catalog, a topic search, a purchase (order
//! number shown, stock down by the quantity), an error shown in words, an order lookup,
//! the cluster panel showing a killed leader as down and the new leader, and a purchase
//! after the failover. The API reference at `/docs` is checked the same way: every route
//! and schema of the frontend's OpenAPI document rendered, nothing loaded from elsewhere.
//! Screenshots are saved under `target/test-artifacts/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/lib.sh `ensure_deps`
//! installs them); without them the test fails and says so.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context};
use common::{Frontend, TestCluster, DEADLINE};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// How soon after a SIGKILL the panel must show the node down and a new leader: the
/// probe times out in 0.5 s, the page polls every 1.5 s and an election takes about
/// 0.3-0.6 s; the rest is slack for a loaded 2-core machine.
const FAILOVER_SHOWN_WITHIN: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);
const DESKTOP: (u32, u32) = (1280, 1000);
const PHONE: (u32, u32) = (390, 844);

/// A program on PATH, or a failure that says how to get it.
fn require_program(name: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed, so the storefront cannot be tested in a browser. \
             Install it with `apt-get install {package}` (scripts/test.sh does this through \
             ensure_deps in scripts/lib.sh)."
        )
    })
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .expect("http client")
}

/// A chromedriver on a free loopback port; killed on drop, so no run leaves one behind.
struct ChromeDriver {
    child: Child,
    url: String,
    log: PathBuf,
}

impl ChromeDriver {
    async fn start(program: &Path, log: PathBuf) -> Self {
        let port = common::free_port();
        let stderr = std::fs::File::create(&log).expect("chromedriver log file");
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn chromedriver");
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let status = format!("{}/status", driver.url);
        common::wait_for("chromedriver to be ready", || async {
            let body: Value = http().get(&status).send().await.ok()?.json().await.ok()?;
            body["value"]["ready"].as_bool().filter(|ready| *ready)
        })
        .await;
        driver
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- chromedriver log ----\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

async fn open_browser(driver: &ChromeDriver, chromium: &Path) -> anyhow::Result<Client> {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new",
                // The test runs as root in CI, where Chromium's sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-proxy-server",
                format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .context("starting a Chromium session through chromedriver")
}

/// Runs `script` in the page and returns its value.
async fn js(browser: &Client, script: &str) -> anyhow::Result<Value> {
    browser
        .execute(script, Vec::new())
        .await
        .with_context(|| format!("running in the page: {script}"))
}

/// Polls `check` until it gives `Some`, failing with `what` and the last state seen
/// after `within`.
async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Result<T, String>>>,
{
    let start = Instant::now();
    loop {
        let last = match check().await? {
            Ok(value) => return Ok(value),
            Err(last) => last,
        };
        if start.elapsed() >= within {
            bail!("timed out after {within:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The product cards as shown: name, topic, stock, title and price text.
async fn cards(browser: &Client) -> anyhow::Result<Vec<Value>> {
    let value = js(
        browser,
        r#"return Array.from(document.querySelectorAll('#products .card')).map(c => ({
             name: c.dataset.name,
             title: c.querySelector('.title').textContent,
             topic: c.querySelector('.topic').textContent,
             price: c.querySelector('.price').textContent,
             stock: Number(c.querySelector('.stock').dataset.stock),
           }));"#,
    )
    .await?;
    value
        .as_array()
        .cloned()
        .ok_or_else(|| anyhow!("cards are not a list: {value}"))
}

fn names(cards: &[Value]) -> BTreeSet<String> {
    cards
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

/// The products the frontend's API lists (all, or one topic).
async fn api_products(frontend: &Frontend, topic: Option<&str>) -> anyhow::Result<Vec<Value>> {
    let url = match topic {
        None => format!("{}/products?limit=1000", frontend.url),
        Some(topic) => format!(
            "{}/search?topic={}",
            frontend.url,
            topic.replace(' ', "%20")
        ),
    };
    let body: Value = http().get(&url).send().await?.json().await?;
    body["data"]["products"]
        .as_array()
        .cloned()
        .ok_or_else(|| anyhow!("unexpected answer from {url}: {body}"))
}

fn card_selector(name: &str) -> String {
    format!(r#"#products .card[data-name="{name}"]"#)
}

/// What one card shows: its stock and its result line (text, order number if any).
async fn card_state(browser: &Client, name: &str) -> anyhow::Result<Value> {
    let script = format!(
        r#"const c = document.querySelector('{}');
           if (!c) return null;
           const r = c.querySelector('.result');
           return {{ stock: Number(c.querySelector('.stock').dataset.stock),
                     result: r.textContent, error: r.classList.contains('error'),
                     order: r.dataset.order ? Number(r.dataset.order) : null }};"#,
        card_selector(name)
    );
    js(browser, &script).await
}

/// Types `quantity` into a card and presses its Buy button, as a shopper does.
async fn press_buy(browser: &Client, name: &str, quantity: u64) -> anyhow::Result<()> {
    let card = browser
        .find(Locator::Css(&card_selector(name)))
        .await
        .with_context(|| format!("card of {name}"))?;
    let qty = card.find(Locator::Css("input.qty")).await?;
    qty.clear().await?;
    qty.send_keys(&quantity.to_string()).await?;
    card.find(Locator::Css("button.buy")).await?.click().await?;
    Ok(())
}

/// Buys and waits for a new order number on the card; returns it.
async fn buy(
    browser: &Client,
    name: &str,
    quantity: u64,
    previous: Option<u64>,
) -> anyhow::Result<(u64, String)> {
    press_buy(browser, name, quantity).await?;
    eventually(&format!("an order number for {name}"), DEADLINE, || async {
        let state = card_state(browser, name).await?;
        match state["order"].as_u64() {
            Some(n) if Some(n) != previous && !state["error"].as_bool().unwrap_or(true) => {
                Ok(Ok((n, state["result"].as_str().unwrap_or("").to_string())))
            }
            _ => Ok(Err(state.to_string())),
        }
    })
    .await
}

async fn wait_stock(browser: &Client, name: &str, expected: u64) -> anyhow::Result<()> {
    eventually(
        &format!("{name}'s card to show {expected} in stock"),
        DEADLINE,
        || async {
            let state = card_state(browser, name).await?;
            Ok(if state["stock"].as_u64() == Some(expected) {
                Ok(())
            } else {
                Err(state.to_string())
            })
        },
    )
    .await
}

/// The panel's rows: node id to the role it shows.
async fn panel_roles(browser: &Client) -> anyhow::Result<Vec<(u64, String)>> {
    let rows = js(
        browser,
        r#"return Array.from(document.querySelectorAll('#node-rows tr'))
             .map(r => [Number(r.dataset.node), r.dataset.role]);"#,
    )
    .await?;
    Ok(rows
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((r[0].as_u64()?, r[1].as_str()?.to_string())))
        .collect())
}

async fn screenshot(browser: &Client, file: &str) -> anyhow::Result<PathBuf> {
    let dir = common::repo_root().join("target").join("test-artifacts");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(file);
    let png = browser.screenshot().await.context("taking a screenshot")?;
    std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

async fn scenario(
    browser: &Client,
    cluster: &mut TestCluster,
    frontend: &Frontend,
) -> anyhow::Result<()> {
    browser.goto(&format!("{}/", frontend.url)).await?;

    // The default catalog, as the API lists it, appears card by card.
    let catalog = api_products(frontend, None).await?;
    ensure!(catalog.len() >= 3, "the default catalog is seeded");
    let all = names(&catalog);
    let shown = eventually("the whole catalog on the page", DEADLINE, || async {
        let shown = cards(browser).await?;
        Ok(if names(&shown) == all {
            Ok(shown)
        } else {
            Err(format!("{:?}", names(&shown)))
        })
    })
    .await?;
    for product in &catalog {
        let card = shown
            .iter()
            .find(|c| c["name"] == product["name"])
            .ok_or_else(|| anyhow!("no card for {}", product["name"]))?;
        ensure!(card["title"] == product["title"], "title of {card}");
        ensure!(card["topic"] == product["topic"], "topic of {card}");
        ensure!(card["stock"] == product["quantity"], "stock of {card}");
        let price = format!("{:.2}", product["price"].as_f64().unwrap_or(-1.0));
        ensure!(
            card["price"].as_str().is_some_and(|p| p.ends_with(&price)),
            "price {price} on {card}"
        );
    }

    // A topic search narrows the cards to exactly that topic's products.
    let topic = "distributed systems";
    let expected = names(&api_products(frontend, Some(topic)).await?);
    ensure!(
        !expected.is_empty() && expected.len() < all.len(),
        "the catalog has a proper subset in {topic:?}"
    );
    let search_box = browser.find(Locator::Id("topic")).await?;
    search_box.clear().await?;
    search_box.send_keys(topic).await?;
    browser
        .find(Locator::Css("#search-form button[type=submit]"))
        .await?
        .click()
        .await?;
    let found = eventually("the search results", DEADLINE, || async {
        let shown = cards(browser).await?;
        Ok(if names(&shown) == expected {
            Ok(shown)
        } else {
            Err(format!("{:?}", names(&shown)))
        })
    })
    .await?;
    ensure!(
        found.iter().all(|c| c["topic"] == topic),
        "every card is in {topic:?}: {found:?}"
    );
    let status = browser
        .find(Locator::Id("catalog-status"))
        .await?
        .text()
        .await?;
    ensure!(
        status.contains(topic),
        "the status names the topic: {status:?}"
    );

    // Buy: the order number appears and the card's stock drops by the quantity.
    let product = found[0]["name"].as_str().unwrap_or_default().to_string();
    let before = found[0]["stock"].as_u64().unwrap_or(0);
    let quantity = 3;
    let (number, text) = buy(browser, &product, quantity, None).await?;
    ensure!(
        text.contains(&format!("Order #{number}")),
        "result says {text:?}"
    );
    wait_stock(browser, &product, before - quantity).await?;
    let order: Value = http()
        .get(format!("{}/orders/{number}", frontend.url))
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        order["data"]["name"] == product.as_str() && order["data"]["quantity"] == quantity,
        "order #{number} in the store: {order}"
    );
    let leader = cluster.leader().await;
    ensure!(
        cluster.stock(leader, &product).await == Some(before - quantity),
        "the store's stock of {product} dropped by {quantity}"
    );

    // More than the stock: the refusal is shown in words, and the page stays.
    press_buy(browser, &product, 10_000).await?;
    let refusal = eventually("the refusal in words", DEADLINE, || async {
        let state = card_state(browser, &product).await?;
        let text = state["result"].as_str().unwrap_or("").to_string();
        Ok(
            if state["error"].as_bool() == Some(true) && text.contains("stock") {
                Ok(text)
            } else {
                Err(state.to_string())
            },
        )
    })
    .await?;
    ensure!(refusal.starts_with("Not enough stock"), "{refusal:?}");

    // Order lookup by number.
    let lookup = browser.find(Locator::Id("order-number")).await?;
    lookup.clear().await?;
    lookup.send_keys(&number.to_string()).await?;
    browser
        .find(Locator::Css("#lookup-form button[type=submit]"))
        .await?
        .click()
        .await?;
    eventually("the order lookup", DEADLINE, || async {
        let shown = js(
            browser,
            r#"const r = document.getElementById('lookup-result');
               const t = s => { const e = r.querySelector(s); return e ? e.textContent : null; };
               return [t('.order-number'), t('.order-name'), t('.order-quantity')];"#,
        )
        .await?;
        let want = json!([format!("#{number}"), product, quantity.to_string()]);
        Ok(if shown == want {
            Ok(())
        } else {
            Err(shown.to_string())
        })
    })
    .await?;

    // The panel lists every node, with the leader the nodes agree on.
    let ids = cluster.ids();
    eventually("the panel to show the leader", DEADLINE, || async {
        let roles = panel_roles(browser).await?;
        let leaders: Vec<u64> = roles
            .iter()
            .filter(|(_, r)| r == "leader")
            .map(|(id, _)| *id)
            .collect();
        let listed: Vec<u64> = roles.iter().map(|(id, _)| *id).collect();
        Ok(if listed == ids && leaders == [leader] {
            Ok(())
        } else {
            Err(format!("{roles:?}"))
        })
    })
    .await?;

    // Kill the leader: the panel shows it down and a new leader soon after.
    let killed_at = Instant::now();
    cluster.kill(leader);
    let new_leader = eventually(
        "the panel to show the killed leader down and a new leader",
        FAILOVER_SHOWN_WITHIN,
        || async {
            let roles = panel_roles(browser).await?;
            let down = roles.iter().any(|(id, r)| *id == leader && r == "down");
            let elected = roles
                .iter()
                .find(|(id, r)| *id != leader && r == "leader")
                .map(|(id, _)| *id);
            Ok(match elected {
                Some(id) if down => Ok(id),
                _ => Err(format!("{roles:?}")),
            })
        },
    )
    .await?;
    println!(
        "panel showed node {leader} down and node {new_leader} leading {:?} after the kill",
        killed_at.elapsed()
    );
    let news = browser
        .find(Locator::Id("cluster-news"))
        .await?
        .text()
        .await?;
    ensure!(
        news.contains(&format!("Down: node {leader}")),
        "the live region says which node is down: {news:?}"
    );

    // Back to the whole catalog, and a purchase through the new leader.
    browser.find(Locator::Id("show-all")).await?.click().await?;
    let shown = eventually("the whole catalog again", DEADLINE, || async {
        let shown = cards(browser).await?;
        Ok(if names(&shown) == all {
            Ok(shown)
        } else {
            Err(format!("{:?}", names(&shown)))
        })
    })
    .await?;
    let other = shown
        .iter()
        .find(|c| c["name"].as_str() != Some(product.as_str()))
        .ok_or_else(|| anyhow!("a second product"))?;
    let other_name = other["name"].as_str().unwrap_or_default().to_string();
    let other_before = other["stock"].as_u64().unwrap_or(0);
    let (second, _) = buy(browser, &other_name, 2, Some(number)).await?;
    ensure!(
        second > number,
        "order numbers grow: {second} after {number}"
    );
    wait_stock(browser, &other_name, other_before - 2).await?;
    ensure!(
        cluster.stock(new_leader, &other_name).await == Some(other_before - 2),
        "the new leader's stock of {other_name} dropped by 2"
    );
    Ok(())
}

/// At phone width nothing may stick out sideways (the page must not scroll horizontally).
async fn check_phone_width(browser: &Client) -> anyhow::Result<()> {
    browser.set_window_size(PHONE.0, PHONE.1).await?;
    eventually("the page to fit a phone's width", DEADLINE, || async {
        let widths = js(
            browser,
            "return [document.documentElement.scrollWidth, window.innerWidth];",
        )
        .await?;
        let (scroll, inner) = (widths[0].as_u64(), widths[1].as_u64());
        Ok(match (scroll, inner) {
            (Some(s), Some(i)) if i <= u64::from(PHONE.0) && s <= i => Ok(()),
            _ => Err(widths.to_string()),
        })
    })
    .await
}

/// The top of the page and the cluster panel at phone width, for a person to look at.
async fn phone_screenshots(browser: &Client) {
    for (file, scroll_to) in [
        ("storefront-phone.png", "shop"),
        ("storefront-phone-cluster.png", "cluster"),
    ] {
        let script = format!("document.getElementById('{scroll_to}').scrollIntoView();");
        let shot = match js(browser, &script).await {
            Ok(_) => screenshot(browser, file).await,
            Err(err) => Err(err),
        };
        match shot {
            Ok(path) => println!("phone-width screenshot: {}", path.display()),
            Err(err) => eprintln!("no {file}: {err:#}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storefront_works_in_a_browser_through_a_leader_kill() {
    let chromium = require_program("chromium", "chromium");
    let chromedriver = require_program("chromedriver", "chromium-driver");
    let mut cluster = TestCluster::start(3).await;
    let frontend = Frontend::start(&cluster, &[], &[]);
    let driver =
        ChromeDriver::start(&chromedriver, cluster.dir.path().join("chromedriver.log")).await;
    let browser = open_browser(&driver, &chromium)
        .await
        .expect("a headless Chromium session");

    let outcome = scenario(&browser, &mut cluster, &frontend).await;
    // The screenshot is taken whatever happened: on a failure it shows why.
    match screenshot(&browser, "storefront.png").await {
        Ok(path) => println!("storefront screenshot: {}", path.display()),
        Err(err) => eprintln!("no screenshot: {err:#}"),
    }
    let phone = match outcome {
        Ok(()) => check_phone_width(&browser).await,
        Err(err) => Err(err),
    };
    if phone.is_ok() {
        phone_screenshots(&browser).await;
    }
    let _ = browser.close().await;
    drop(driver);
    if let Err(err) = phone {
        panic!("storefront check failed: {err:#}");
    }
}

/// `(METHOD, path)` of every operation in an OpenAPI document.
fn document_routes(document: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            if op.get("responses").is_some() {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// Strings out of a JSON list (`[]` for anything else).
fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

async fn docs_scenario(browser: &Client, frontend: &Frontend) -> anyhow::Result<()> {
    let document: Value = http()
        .get(frontend.url("/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        document["openapi"] == "3.1.0",
        "not an OpenAPI 3.1 document"
    );
    let documented = document_routes(&document);
    let listed: BTreeSet<(String, String)> = bazaar_api::openapi::frontend_routes()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    ensure!(
        documented == listed,
        "the served document is not this build's: {documented:?} vs {listed:?}"
    );

    browser.goto(&frontend.url("/docs")).await?;
    eventually("the reference to render", DEADLINE, || async {
        let state = js(browser, "return document.body.dataset.state;").await?;
        match state.as_str() {
            Some("ready") => Ok(Ok(())),
            Some("error") => {
                let banner = js(
                    browser,
                    "return document.getElementById('banner').textContent;",
                )
                .await?;
                bail!("the page could not render the document: {banner}")
            }
            _ => Ok(Err(state.to_string())),
        }
    })
    .await?;

    // Every operation of the document, and no other, each with its parameters and answers.
    let shown = js(
        browser,
        r#"return Array.from(document.querySelectorAll('#operations .op')).map(s => ({
             method: s.dataset.method, path: s.dataset.path,
             statuses: Array.from(s.querySelectorAll('.response')).map(r => r.dataset.status),
             params: Array.from(s.querySelectorAll('[data-param]')).map(p => p.dataset.param),
           }));"#,
    )
    .await?;
    let shown = shown
        .as_array()
        .cloned()
        .ok_or_else(|| anyhow!("operations are not a list: {shown}"))?;
    let shown_routes: BTreeSet<(String, String)> = shown
        .iter()
        .filter_map(|s| {
            Some((
                s["method"].as_str()?.to_string(),
                s["path"].as_str()?.to_string(),
            ))
        })
        .collect();
    ensure!(
        shown_routes == documented && shown.len() == documented.len(),
        "the page shows {shown_routes:?}, the document lists {documented:?}"
    );
    for s in &shown {
        let (method, path) = (
            s["method"].as_str().unwrap_or_default(),
            s["path"].as_str().unwrap_or_default(),
        );
        let op = &document["paths"][path][method.to_lowercase()];
        let statuses: Vec<String> = op["responses"]
            .as_object()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default();
        ensure!(
            strings(&s["statuses"]) == statuses,
            "{method} {path}: the page shows answers {}, the document {statuses:?}",
            s["statuses"]
        );
        let params: Vec<String> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str().map(str::to_string))
            .collect();
        ensure!(
            strings(&s["params"]) == params,
            "{method} {path}: the page shows parameters {}, the document {params:?}",
            s["params"]
        );
    }
    let orders = shown
        .iter()
        .find(|s| s["method"] == "POST" && s["path"] == "/orders")
        .ok_or_else(|| anyhow!("no POST /orders on the page"))?;
    for status in ["200", "404", "409", "503"] {
        ensure!(
            strings(&orders["statuses"]).iter().any(|s| s == status),
            "POST /orders shows a {status}: {orders}"
        );
    }

    // Every schema of the document.
    let schemas = js(
        browser,
        "return Array.from(document.querySelectorAll('#schemas .schema')).map(s => s.dataset.schema);",
    )
    .await?;
    let documented_schemas: Vec<String> = document["components"]["schemas"]
        .as_object()
        .map(|s| s.keys().cloned().collect())
        .unwrap_or_default();
    ensure!(
        strings(&schemas) == documented_schemas,
        "the page shows schemas {schemas}, the document {documented_schemas:?}"
    );

    // Nothing was loaded from anywhere but this frontend (no CDN; the CSP forbids it).
    let loaded = js(
        browser,
        "return performance.getEntriesByType('resource').map(e => e.name);",
    )
    .await?;
    let own = format!("{}/", frontend.url);
    ensure!(
        strings(&loaded).iter().all(|url| url.starts_with(&own)),
        "the page loaded {loaded}"
    );

    // A schema named in a route leads to the schema.
    browser
        .find(Locator::Css(
            r#".op[data-method="POST"][data-path="/orders"] .schema-link"#,
        ))
        .await?
        .click()
        .await?;
    eventually("the link to lead to OrderRequest", DEADLINE, || async {
        let hash = js(browser, "return location.hash;").await?;
        Ok(if hash == "#schema-OrderRequest" {
            Ok(())
        } else {
            Err(hash.to_string())
        })
    })
    .await?;

    // The filter narrows the routes to those that mention its words.
    let filter = browser.find(Locator::Id("filter")).await?;
    filter.send_keys("archive").await?;
    eventually("the filter to narrow the routes", DEADLINE, || async {
        let visible = js(
            browser,
            "return Array.from(document.querySelectorAll('#operations .op:not(.hidden)'))
               .map(s => s.dataset.method + ' ' + s.dataset.path);",
        )
        .await?;
        let visible = strings(&visible);
        let narrowed = visible.iter().any(|r| r == "POST /admin/archive/commit")
            && !visible.iter().any(|r| r == "GET /products")
            && visible.len() < documented.len();
        Ok(if narrowed {
            Ok(())
        } else {
            Err(format!("{visible:?}"))
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reference_renders_in_a_browser() {
    let chromium = require_program("chromium", "chromium");
    let chromedriver = require_program("chromedriver", "chromium-driver");
    let cluster = TestCluster::start(3).await;
    let frontend = Frontend::start(&cluster, &[], &[]);
    let driver = ChromeDriver::start(
        &chromedriver,
        cluster.dir.path().join("chromedriver-docs.log"),
    )
    .await;
    let browser = open_browser(&driver, &chromium)
        .await
        .expect("a headless Chromium session");

    let outcome = docs_scenario(&browser, &frontend).await;
    match screenshot(&browser, "docs.png").await {
        Ok(path) => println!("API reference screenshot: {}", path.display()),
        Err(err) => eprintln!("no screenshot: {err:#}"),
    }
    let phone = match outcome {
        Ok(()) => check_phone_width(&browser).await,
        Err(err) => Err(err),
    };
    if phone.is_ok() {
        match screenshot(&browser, "docs-phone.png").await {
            Ok(path) => println!("phone-width screenshot: {}", path.display()),
            Err(err) => eprintln!("no docs-phone.png: {err:#}"),
        }
    }
    let _ = browser.close().await;
    drop(driver);
    if let Err(err) = phone {
        panic!("API reference check failed: {err:#}");
    }
}
