//! The one-shot commands for people (`lookup`, `search`, `order`, `order-status`,
//! `status`, `admin ...`): each returns text for humans or a JSON value.

use raft_node::api::{cents_to_decimal, ClusterInfo, OrderView, ProductView};
use serde::Serialize;

use crate::api_client::ApiClient;
use crate::error::ClientError;

/// What a command prints: a line for people and the same data as JSON.
pub struct Output {
    pub human: String,
    pub json: serde_json::Value,
}

fn output<T: Serialize>(human: String, data: &T) -> Result<Output, ClientError> {
    let json = serde_json::to_value(data)
        .map_err(|e| ClientError::Usage(format!("cannot encode output: {e}")))?;
    Ok(Output { human, json })
}

pub fn product_line(p: &ProductView) -> String {
    format!(
        "{}: {} [{}] price {:.2}, {} in stock (version {})",
        p.name,
        p.title,
        p.topic,
        cents_to_decimal(p.price),
        p.quantity,
        p.version
    )
}

pub fn order_line(o: &OrderView) -> String {
    format!(
        "order #{}: {} x {} at {:.2} = {:.2} (log index {})",
        o.number,
        o.quantity,
        o.name,
        cents_to_decimal(o.unit_price),
        cents_to_decimal(o.total),
        o.index
    )
}

pub async fn lookup(c: &ApiClient, name: &str) -> Result<Output, ClientError> {
    let p = c.product(name).await?;
    output(product_line(&p), &p)
}

pub async fn search(c: &ApiClient, topic: &str) -> Result<Output, ClientError> {
    let r = c.search(topic).await?;
    let mut human = format!("{} product(s) in topic {:?}", r.products.len(), r.topic);
    for p in &r.products {
        human.push_str("\n  ");
        human.push_str(&product_line(p));
    }
    output(human, &r)
}

pub async fn order(
    c: &ApiClient,
    name: &str,
    quantity: u64,
    key: Option<&str>,
) -> Result<Output, ClientError> {
    let req = raft_node::api::OrderRequest {
        name: name.to_owned(),
        quantity,
    };
    req.validate().map_err(ClientError::Usage)?;
    let o = c.order(&req, key).await?;
    output(order_line(&o), &o)
}

pub async fn order_status(c: &ApiClient, number: u64) -> Result<Output, ClientError> {
    let o = c.get_order(number).await?;
    output(order_line(&o), &o)
}

fn cluster_lines(i: &ClusterInfo) -> String {
    let members: Vec<String> = i
        .members
        .iter()
        .map(|m| {
            format!(
                "{}{}@{}",
                m.id,
                if m.voter { "" } else { "(learner)" },
                m.api
            )
        })
        .collect();
    format!(
        "node {} ({:?}), leader {}, term {}\n  commit {} applied {} last log {} snapshot {} purged {}\n  members: {}\n  orders: {}, state digest {}",
        i.id,
        i.role,
        i.leader.map_or("none".into(), |l| format!("{l} at {}", i.leader_api.as_deref().unwrap_or("?"))),
        i.term,
        i.commit_index,
        i.applied_index,
        i.last_log_index,
        i.snapshot_index,
        i.purged_index,
        members.join(", "),
        i.orders,
        i.state_digest
    )
}

/// Cluster view plus the cache figures from `/metrics` (lines mentioning "cache").
pub async fn status(c: &ApiClient) -> Result<Output, ClientError> {
    let info = c.cluster().await?;
    let cache: Vec<String> = match c.metrics().await {
        Ok(text) => text
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("cache"))
            .map(str::to_owned)
            .collect(),
        Err(_) => Vec::new(),
    };
    let mut human = cluster_lines(&info);
    if cache.is_empty() {
        human.push_str("\n  cache: no figures (a node, or metrics unavailable)");
    } else {
        human.push_str("\n  cache:");
        for l in &cache {
            human.push_str("\n    ");
            human.push_str(l);
        }
    }
    let json = serde_json::json!({ "cluster": info, "cache_metrics": cache });
    Ok(Output { human, json })
}

/// Admin answers are the product after the change.
pub fn admin_output(p: &ProductView) -> Result<Output, ClientError> {
    output(product_line(p), p)
}
