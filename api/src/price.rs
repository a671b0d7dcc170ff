//! Prices: stored as integer cents, shown in JSON as a decimal number (25.99).

use serde::{Deserialize, Deserializer, Serializer};

/// Integer cents.
pub type Cents = u64;

/// The highest price accepted: one million currency units.
const MAX_PRICE_CENTS: Cents = 100_000_000;

pub fn cents_to_decimal(cents: Cents) -> f64 {
    cents as f64 / 100.0
}

/// Parses a decimal price with at most two decimals into cents.
pub fn parse_price(value: f64) -> Result<Cents, String> {
    if !value.is_finite() || value < 0.0 {
        return Err(format!("price must be a non-negative number, got {value}"));
    }
    let scaled = value * 100.0;
    let cents = scaled.round();
    if (scaled - cents).abs() > 1e-6 {
        return Err(format!("price {value} has more than two decimals"));
    }
    if cents > MAX_PRICE_CENTS as f64 {
        return Err(format!("price {value} is above the maximum of 1000000.00"));
    }
    Ok(cents as Cents)
}

/// serde `with` helper: cents in Rust, a decimal number in JSON.
pub mod as_decimal {
    use super::*;

    pub fn serialize<S: Serializer>(cents: &Cents, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(cents_to_decimal(*cents))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Cents, D::Error> {
        let value = f64::deserialize(d)?;
        parse_price(value).map_err(serde::de::Error::custom)
    }
}

/// serde `with` helper for an optional price.
pub mod as_optional_decimal {
    use super::*;

    pub fn serialize<S: Serializer>(cents: &Option<Cents>, s: S) -> Result<S::Ok, S::Error> {
        match cents {
            Some(c) => s.serialize_some(&cents_to_decimal(*c)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cents>, D::Error> {
        match Option::<f64>::deserialize(d)? {
            Some(value) => parse_price(value)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_two_decimals_exactly() {
        assert_eq!(parse_price(25.99), Ok(2599));
        assert_eq!(parse_price(0.1), Ok(10));
        assert_eq!(parse_price(19.0), Ok(1900));
    }

    #[test]
    fn rejects_bad_prices() {
        assert!(parse_price(-1.0).is_err());
        assert!(parse_price(1.234).is_err());
        assert!(parse_price(f64::NAN).is_err());
        assert!(parse_price(2e6).is_err());
    }

    #[test]
    fn shows_cents_as_a_decimal() {
        assert_eq!(
            serde_json::to_string(&cents_to_decimal(2599)).unwrap(),
            "25.99"
        );
    }
}
