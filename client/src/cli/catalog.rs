//! The shop's commands for people: `lookup`, `search`, `order` and `order-status`, each
//! printed as a line of text or as JSON.

use bazaar_api::{cents_to_decimal, OrderRequest, OrderView, ProductView};
use clap::Args;

use super::error::CliError;
use super::globals::Globals;
use super::outcome::Outcome;
use super::output::Output;

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

/// `bazaar order`: places an order, checked against the order limits first.
pub async fn order(g: &Globals, args: OrderArgs) -> Result<Outcome, CliError> {
    let (_, client) = g.connect(None)?;
    let req = OrderRequest {
        name: args.name,
        quantity: args.quantity,
    };
    req.validate().map_err(CliError::Usage)?;
    let o = client.order(&req, args.idempotency_key.as_deref()).await?;
    Ok(Outcome::printed(&Output::new(order_line(&o), &o)?, g.json))
}

/// `bazaar order-status`: one order by number.
pub async fn order_status(g: &Globals, args: OrderStatusArgs) -> Result<Outcome, CliError> {
    let (_, client) = g.connect(None)?;
    let o = client.get_order(args.number).await?;
    Ok(Outcome::printed(&Output::new(order_line(&o), &o)?, g.json))
}
