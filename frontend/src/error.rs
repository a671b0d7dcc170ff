//! Errors that stop the frontend from starting or serving (request errors are answered,
//! not returned).

#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error("invalid setting `{field}`: {reason}")]
    Config { field: &'static str, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("serving failed: {0}")]
    Serve(#[from] std::io::Error),
    #[error(transparent)]
    Settings(#[from] bazaar_api::config::ConfigError),
    #[error(transparent)]
    Tls(#[from] bazaar_service::tls::TlsError),
}
