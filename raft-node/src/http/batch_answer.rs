//! One item's answer inside a batch reply (`POST /orders/batch`, `POST /lookup`): the
//! status and envelope its own request would have got, with the index it reflects.

use bazaar_api::{ApiError, BatchAnswer};
use serde::Serialize;
use serde_json::value::{to_raw_value, RawValue};

/// `envelope` answered with `status`, reflecting log index `index`.
pub fn answer<T: Serialize>(status: u16, index: Option<u64>, envelope: &T) -> BatchAnswer {
    match to_raw_value(envelope) {
        Ok(body) => BatchAnswer {
            status,
            index,
            body,
        },
        Err(e) => {
            tracing::error!(cause = %e, "cannot encode a batch item's answer");
            let fallback = ApiError::internal("cannot encode the answer").to_envelope();
            BatchAnswer {
                status: 500,
                index: None,
                body: to_raw_value(&fallback).unwrap_or_else(|_| empty_object()),
            }
        }
    }
}

/// The error envelope for `err`, with its status.
pub fn error_answer(err: &ApiError, index: Option<u64>) -> BatchAnswer {
    answer(err.status(), index, &err.to_envelope())
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).expect("a literal empty JSON object")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_keeps_its_status_envelope_and_index() {
        let a = error_answer(&ApiError::unknown_product("Owl"), Some(9));
        assert_eq!((a.status, a.index), (404, Some(9)));
        let body: serde_json::Value = serde_json::from_str(a.body.get()).unwrap();
        assert_eq!(body["error"]["reason"], "unknown_product", "{body}");
    }
}
