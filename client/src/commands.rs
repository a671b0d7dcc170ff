//! The one-shot commands for people (`lookup`, `search`, `order`, `order-status`,
//! `status`, `admin ...`): each returns text for humans or a JSON value.

use bazaar_api::{cents_to_decimal, ClusterInfo, OrderView, ProductView};
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
    let req = bazaar_api::OrderRequest {
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
    ) + &format!(
        "\n  alarms: {}",
        if i.alarms.is_empty() {
            "none".to_owned()
        } else {
            i.alarms
                .iter()
                .map(|a| format!("{} on node {}", a.kind, a.member))
                .collect::<Vec<_>>()
                .join(", ")
        }
    )
}

/// The answering node's view of the cluster, plus the frontend's cache, feed and routing
/// when a frontend answered.
pub async fn status(c: &ApiClient) -> Result<Output, ClientError> {
    let answer = c.cluster_answer().await?;
    let mut human = cluster_lines(&answer.cluster);
    match &answer.frontend {
        None => human.push_str("\n  (answered by a node: no frontend cache)"),
        Some(f) => {
            human.push_str(&format!(
                "\n  frontend: cache {} ({} of {} entries, hit ratio {:.1} %, {} hits, {} misses), writes to {}",
                if !f.cache_enabled {
                    "off"
                } else if f.cache_serving {
                    "serving"
                } else {
                    "not serving (feed behind)"
                },
                f.cache_size,
                f.cache_capacity,
                f.hit_ratio * 100.0,
                f.hits,
                f.misses,
                f.leader_hint.as_deref().unwrap_or("no known leader"),
            ));
            human.push_str(&format!(
                "\n  change feed: {:?} from node {}, at index {}, {} entries behind",
                f.feed.state,
                f.feed.node.map_or("-".into(), |n| n.to_string()),
                f.feed.last_index,
                f.feed.lag_entries
            ));
        }
    }
    output(human, &answer)
}

/// Admin answers are the product after the change.
pub fn admin_output(p: &ProductView) -> Result<Output, ClientError> {
    output(product_line(p), p)
}
