//! The shop's commands for people: `lookup`, `search`, `order` and `order-status`, each
//! printed as a line of text or as JSON.

use bazaar_api::{
    cents_to_decimal, ApiError, IdempotencyKey, OrderRequest, OrderView, ProductView, Reason,
};
use clap::Args;

use super::error::CliError;
use super::globals::Globals;
use super::outcome::Outcome;
use super::output::Output;
use crate::error::ClientError;

/// `bazaar lookup NAME`.
#[derive(Debug, Clone, Args)]
pub struct LookupArgs {
    /// Product name, e.g. Tux.
    pub name: String,
}

/// `bazaar search TOPIC`.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// Topic, e.g. toys.
    pub topic: String,
}

/// `bazaar order NAME QUANTITY`.
#[derive(Debug, Clone, Args)]
pub struct OrderArgs {
    pub name: String,
    pub quantity: u64,
    /// Makes a retry safe: the same key returns the first order instead of a new one.
    /// Without it the command makes one, the same for each of its own sends.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

/// `bazaar order-status NUMBER`.
#[derive(Debug, Clone, Args)]
pub struct OrderStatusArgs {
    pub number: u64,
}

/// A product on one line: name, title, topic, price, stock, version.
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

/// An order on one line: number, quantity, product, prices, log index.
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

/// `bazaar lookup`: one product.
pub async fn lookup(g: &Globals, args: LookupArgs) -> Result<Outcome, CliError> {
    let (_, client) = g.connect(None)?;
    let p = client.product(&args.name).await?;
    Ok(Outcome::printed(
        &Output::new(product_line(&p), &p)?,
        g.json,
    ))
}

/// `bazaar search`: the products of a topic.
pub async fn search(g: &Globals, args: SearchArgs) -> Result<Outcome, CliError> {
    let (_, client) = g.connect(None)?;
    let r = client.search(&args.topic).await?;
    let mut human = format!("{} product(s) in topic {:?}", r.products.len(), r.topic);
    for p in &r.products {
        human.push_str("\n  ");
        human.push_str(&product_line(p));
    }
    Ok(Outcome::printed(&Output::new(human, &r)?, g.json))
}

/// `bazaar order`: places an order, checked against the order limits first. Its key (the
/// given one, else a fresh one) goes with every send, so an order sent again after a shed
/// answer is placed at most once: a frontend may pass on a leader's shed answer to an
/// attempt of its own after an earlier one whose fate it does not know.
pub async fn order(g: &Globals, args: OrderArgs) -> Result<Outcome, CliError> {
    let (_, client) = g.connect(None)?;
    let req = OrderRequest {
        name: args.name,
        quantity: args.quantity,
    };
    req.validate().map_err(CliError::Usage)?;
    let key = args
        .idempotency_key
        .unwrap_or_else(|| IdempotencyKey::generate().into_string());
    let o = client.order(&req, Some(&key)).await?;
    Ok(Outcome::printed(&Output::new(order_line(&o), &o)?, g.json))
}

/// `bazaar order-status`: one order by number; an archived one (410) is named with its
/// archive.
pub async fn order_status(g: &Globals, args: OrderStatusArgs) -> Result<Outcome, CliError> {
    let (_, client) = g.connect(None)?;
    let o = client
        .get_order(args.number)
        .await
        .map_err(|e| archived(args.number, e))?;
    Ok(Outcome::printed(&Output::new(order_line(&o), &o)?, g.json))
}

/// A 410 for order `number` says, from the archive the answer names, that it was archived,
/// into which range with which digest, and how to read it from the file; whatever the
/// answering process put in the message. Any other error is left as it is.
pub fn archived(number: u64, e: ClientError) -> ClientError {
    match e {
        ClientError::Api(ApiError {
            reason: Reason::Archived,
            archive: Some(a),
            ..
        }) => ClientError::Api(ApiError {
            message: format!(
                "order {number} was archived: it is in the archive of orders {}..={} ({} \
                 orders, digest {}, label {:?}, committed at index {}); \
                 `bazaar archive get FILE {number}` reads it from that archive file",
                a.from, a.upto, a.count, a.digest, a.label, a.committed_index
            ),
            archive: Some(a),
            ..ApiError::new(Reason::Archived, "")
        }),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use bazaar_api::archive::ArchiveView;

    use super::*;

    #[test]
    fn an_archived_order_is_named_with_its_archive() {
        let view = ArchiveView {
            from: 1,
            upto: 500,
            count: 500,
            digest: "00000000000000ff".into(),
            committed_index: 900,
            committed_at_ms: 0,
            label: "march.archive".into(),
        };
        // Whatever the message said, the archive decides what is printed.
        let mut gone = ApiError::archived(42, view);
        gone.message = "gone".into();
        let text = archived(42, ClientError::Api(gone)).to_string();
        for part in [
            "order 42 was archived",
            "orders 1..=500",
            "digest 00000000000000ff",
            "\"march.archive\"",
            "archive get FILE 42",
            "410",
        ] {
            assert!(text.contains(part), "{part:?} in {text}");
        }
        let other = archived(42, ClientError::Api(ApiError::unknown_order(42)));
        assert_eq!(other.to_string(), "unknown order 42 (404 unknown_order)");
    }

    mod shed {
        use std::path::PathBuf;
        use std::time::Duration;

        use super::super::*;
        use crate::test_server::{Answer, TestServer};

        fn globals(url: &str, timeout: Duration) -> Globals {
            Globals {
                url: Some(url.to_owned()),
                ca_cert: None,
                config: PathBuf::from("/nonexistent/cluster.toml"),
                json: false,
                timeout,
            }
        }

        fn order_args() -> OrderArgs {
            OrderArgs {
                name: "Tux".into(),
                quantity: 1,
                idempotency_key: None,
            }
        }

        #[tokio::test]
        async fn a_shed_order_is_sent_again_after_retry_after_and_placed() {
            let server = TestServer::start(vec![
                Answer::shed(&ApiError::overloaded("writes", 1), "1"),
                Answer::ok(serde_json::json!({
                    "number": 9, "order_number": 9, "name": "Tux", "quantity": 1,
                    "unit_price": 1.5, "total": 1.5, "index": 40
                })),
            ])
            .await;
            let g = globals(&server.url, Duration::from_secs(10));
            let out = order(&g, order_args()).await.expect("placed");
            assert!(out.passed && out.stdout.starts_with("order #9:"), "{out:?}");
            let arrivals = server.arrivals();
            assert_eq!(arrivals.len(), 2, "{arrivals:?}");
            assert!(arrivals[1].at - arrivals[0].at >= Duration::from_secs(1));
            // No key given: the command made one, the same for both sends.
            let key = arrivals[0].header(bazaar_api::IDEMPOTENCY_HEADER);
            assert!(key.is_some_and(|k| !k.is_empty()), "{arrivals:?}");
            assert_eq!(key, arrivals[1].header(bazaar_api::IDEMPOTENCY_HEADER));
        }

        #[tokio::test]
        async fn a_command_gives_up_at_once_when_retry_after_is_past_its_timeout() {
            let server = TestServer::start(vec![Answer::shed(
                &ApiError::overloaded("writes", 30),
                "30",
            )])
            .await;
            let g = globals(&server.url, Duration::from_secs(10));
            let text = order(&g, order_args()).await.expect_err("shed").to_string();
            for part in [
                "the server is overloaded",
                "without running it",
                "try again in 30 s",
            ] {
                assert!(text.contains(part), "{part:?} in {text}");
            }
            assert_eq!(server.arrivals().len(), 1);
        }

        #[tokio::test]
        async fn a_rate_limited_lookup_says_so_after_its_attempts() {
            // A 1 s budget holds one wait of the server's 1 s: two sends, then the message.
            let server =
                TestServer::start(vec![Answer::shed(&ApiError::rate_limited(1), "1")]).await;
            let g = globals(&server.url, Duration::from_secs(1));
            let text = lookup(&g, LookupArgs { name: "Tux".into() })
                .await
                .expect_err("rate-limited")
                .to_string();
            for part in [
                "this client is rate-limited",
                "(2 attempts)",
                "try again in 1 s",
            ] {
                assert!(text.contains(part), "{part:?} in {text}");
            }
            let arrivals = server.arrivals();
            assert_eq!(arrivals.len(), 2, "{arrivals:?}");
            assert!(arrivals[1].at - arrivals[0].at >= Duration::from_secs(1));
        }
    }
}
