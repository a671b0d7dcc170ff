//! `POST /admin/alarms/disarm` (bearer token): ends alarms through the log, on the leader,
//! after checking that every voter has space again; audited like every admin change.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::Response;
use bazaar_api::{ApiError, DisarmAnswer, DisarmRequest, Reason};
use bazaar_service::respond::{json_body, ok};
use bazaar_service::ErrorResponse;

use super::audit::Audit;
use super::error::write_error;
use super::state::AppState;
use crate::space_alarm::AlarmError;

pub async fn disarm(
    State(s): State<Arc<AppState>>,
    audit: Audit,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ErrorResponse> {
    let req: DisarmRequest = match raw {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => DisarmRequest::default(),
        raw => json_body(raw)?,
    };
    let subject = match req.kind {
        Some(kind) => format!("{kind} alarms"),
        None => "all alarms".to_owned(),
    };
    let before = alarm_list(&s);
    let result = s.alarm.disarm(&req).await;
    match &result {
        Ok(_) => audit.record(&subject, &before, &alarm_list(&s), "disarmed"),
        Err(e) => audit.record(&subject, &before, &before, &format!("refused: {e}")),
    }
    let disarmed = result.map_err(alarm_error)?;
    let answer = DisarmAnswer {
        disarmed: disarmed.iter().map(|a| a.view()).collect(),
    };
    Ok(ok(&answer, s.reader.applied_index()))
}

fn alarm_list(s: &AppState) -> String {
    let view = s.reader.current();
    let alarms: Vec<String> = view
        .shop
        .alarms
        .records()
        .map(|a| format!("{}@{}", a.kind, a.member))
        .collect();
    if alarms.is_empty() {
        "none".to_owned()
    } else {
        alarms.join(",")
    }
}

fn alarm_error(e: AlarmError) -> ApiError {
    match e {
        AlarmError::NotLeader(hint) => ApiError::not_leader(hint),
        AlarmError::Write(e) => write_error(e),
        e @ (AlarmError::StillShort(_) | AlarmError::Unconfirmed(_)) => {
            ApiError::new(Reason::Conflict, e.to_string())
        }
        e @ AlarmError::Unexpected(_) => ApiError::internal(e.to_string()),
    }
}
