//! Building node URLs from client input: percent-encoding path segments and reading
//! query parameters.

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `?query` to append to a node path, or nothing.
pub fn query_suffix(raw: Option<&str>) -> String {
    match raw {
        Some(q) if !q.is_empty() => format!("?{q}"),
        _ => String::new(),
    }
}

/// The first value of `name` in a raw query string, decoded.
pub fn query_param(raw: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(raw?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `topic=...` encoded for a node URL.
pub fn topic_query(topic: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("topic", topic)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_queries_round_trip() {
        assert_eq!(encode_segment("RPCs for Noobs"), "RPCs%20for%20Noobs");
        assert_eq!(encode_segment("a/b?c"), "a%2Fb%3Fc");
        assert_eq!(
            query_param(Some("topic=board+games&x=1"), "topic").as_deref(),
            Some("board games")
        );
        assert_eq!(query_param(Some("x=1"), "topic"), None);
        assert_eq!(query_param(None, "topic"), None);
        assert_eq!(topic_query("board games"), "topic=board+games");
        assert_eq!(query_suffix(Some("")), "");
        assert_eq!(query_suffix(Some("a=1")), "?a=1");
    }
}
