//! Each peer's `raft` listener as a parsed URL, kept per peer: an RPC then sets only its path
//! on a copy instead of parsing (and IDNA-checking) the whole address again. URL parsing
//! took ~1.9 % of a loaded leader's CPU; this removes the request side of it (BENCHMARKS.md,
//! "Peer and forward URLs parsed once").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reqwest::Url;

use crate::types::NodeId;

/// Shared by every peer client of one node; cheap to clone.
#[derive(Clone)]
pub struct PeerUrls {
    /// `http` or `https`.
    scheme: &'static str,
    /// Per peer: the address it was parsed from (membership can move a peer) and the URL.
    parsed: Arc<Mutex<HashMap<NodeId, (String, Url)>>>,
}

impl PeerUrls {
    pub fn new(scheme: &'static str) -> Self {
        Self {
            scheme,
            parsed: Arc::default(),
        }
    }

    /// The URL of `path` (which starts with `/`) on `peer`'s listener at `address`
    /// (`host:port`). Errors name the address when it does not parse.
    pub fn url(&self, peer: NodeId, address: &str, path: &str) -> Result<Url, String> {
        let mut url = self.base(peer, address)?;
        url.set_path(path);
        Ok(url)
    }

    fn base(&self, peer: NodeId, address: &str) -> Result<Url, String> {
        // A poisoned lock only means another RPC panicked mid-insert: parse afresh.
        let mut parsed = self.parsed.lock().ok();
        if let Some((known, url)) = parsed.as_ref().and_then(|p| p.get(&peer)) {
            if known == address {
                return Ok(url.clone());
            }
        }
        let url = Url::parse(&format!("{}://{address}", self.scheme))
            .map_err(|e| format!("peer address {address:?} is not a usable URL: {e}"))?;
        if let Some(parsed) = parsed.as_mut() {
            parsed.insert(peer, (address.to_string(), url.clone()));
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_url_is_what_parsing_the_whole_address_gives() {
        let urls = PeerUrls::new("https");
        for path in ["/raft/append", "/raft/vote", "/raft/read-index"] {
            let whole = Url::parse(&format!("https://127.0.0.1:7101{path}")).expect("parses");
            assert_eq!(urls.url(1, "127.0.0.1:7101", path), Ok(whole));
        }
        let named = urls.url(2, "node2:7102", "/raft/append").expect("parses");
        assert_eq!(named.as_str(), "https://node2:7102/raft/append");
    }

    #[test]
    fn a_peer_that_moves_is_parsed_again_at_its_new_address() {
        let urls = PeerUrls::new("http");
        let before = urls.url(3, "127.0.0.1:7103", "/raft/vote").expect("parses");
        let after = urls.url(3, "127.0.0.1:9103", "/raft/vote").expect("parses");
        assert_eq!(before.port(), Some(7103));
        assert_eq!(after.port(), Some(9103));
        // Another peer's entry is its own.
        let other = urls.url(4, "127.0.0.1:7104", "/raft/vote").expect("parses");
        assert_eq!(other.port(), Some(7104));
        assert_eq!(
            urls.url(3, "127.0.0.1:9103", "/raft/vote")
                .map(|u| u.port()),
            Ok(Some(9103))
        );
    }

    #[test]
    fn an_address_that_does_not_parse_is_an_error_naming_it() {
        let urls = PeerUrls::new("http");
        let err = urls
            .url(5, "127.0.0.1:notaport", "/raft/append")
            .expect_err("a port must be a number");
        assert!(err.contains("127.0.0.1:notaport"), "{err}");
        // A bad address is not remembered as good.
        assert!(urls.url(5, "127.0.0.1:notaport", "/raft/append").is_err());
    }
}
