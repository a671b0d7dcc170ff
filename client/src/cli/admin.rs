//! `bazaar admin upsert|update|restock`: catalog changes through the admin token; each
//! prints the product after the change. Each change carries one idempotency key, so the
//! client's sends of it after a shed answer are applied at most once.

use bazaar_api::{parse_price, IdempotencyKey, ProductPatch, ProductSpec, RestockRequest};
use clap::{Args, Subcommand};

use super::catalog::product_line;
use super::error::CliError;
use super::globals::Globals;
use super::outcome::Outcome;
use super::output::Output;

/// `bazaar admin`.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// Overrides BAZAAR_TOKEN and the config's security.token.
    #[arg(long)]
    pub token: Option<String>,
    #[command(subcommand)]
    pub action: AdminAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AdminAction {
    /// Create or replace a product.
    Upsert {
        name: String,
        #[arg(long)]
        topic: String,
        /// Price with at most two decimals, e.g. 25.99.
        #[arg(long)]
        price: f64,
        /// Units in stock.
        #[arg(long)]
        quantity: u64,
        #[arg(long, default_value = "")]
        title: String,
    },
    /// Change a product's price and/or stock.
    Update {
        name: String,
        #[arg(long)]
        price: Option<f64>,
        /// New stock level (units).
        #[arg(long)]
        quantity: Option<u64>,
    },
    /// Add AMOUNT units to a product's stock.
    Restock { name: String, amount: u64 },
}

fn price(value: f64) -> Result<u64, CliError> {
    parse_price(value).map_err(CliError::Usage)
}

/// Runs one catalog change.
pub async fn run(g: &Globals, args: AdminArgs) -> Result<Outcome, CliError> {
    let (_, client) = g.connect(args.token.as_deref())?;
    let key = IdempotencyKey::generate().into_string();
    let key = Some(key.as_str());
    let product = match args.action {
        AdminAction::Upsert {
            name,
            topic,
            price: p,
            quantity,
            title,
        } => {
            let spec = ProductSpec {
                name,
                title,
                topic,
                price: price(p)?,
                quantity,
            };
            spec.validate().map_err(CliError::Usage)?;
            client.upsert(&spec, key).await?
        }
        AdminAction::Update {
            name,
            price: p,
            quantity,
        } => {
            if p.is_none() && quantity.is_none() {
                return Err(CliError::Usage(
                    "nothing to update: give --price and/or --quantity".into(),
                ));
            }
            let patch = ProductPatch {
                price: p.map(price).transpose()?,
                quantity,
            };
            client.update(&name, &patch, key).await?
        }
        AdminAction::Restock { name, amount } => {
            client
                .restock(&RestockRequest { name, amount }, key)
                .await?
        }
    };
    let out = Output::new(product_line(&product), &product)?;
    Ok(Outcome::printed(&out, g.json))
}
