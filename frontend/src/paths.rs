//! Building node URLs from client input: percent-encoding path segments and reading
//! query parameters, and which queries leave a read cacheable.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters: a product name like `a/b?c` stays one
/// segment, and the node decodes it back.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment (the `percent-encoding` crate, the one `url` uses).
pub fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
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

/// A product lookup the cache may answer: no query at all. Any other query (a consistency
/// level, an unknown field the node rejects) goes to a node as it is, so the answer is the
/// node's own.
pub fn plain_lookup(query: Option<&str>) -> bool {
    query.unwrap_or("").is_empty()
}

/// A search the cache may answer: exactly one parameter, `topic`.
pub fn plain_search(query: Option<&str>) -> bool {
    query.is_some_and(|q| form_urlencoded::parse(q.as_bytes()).all(|(k, _)| k == "topic"))
        && query.is_some_and(|q| form_urlencoded::parse(q.as_bytes()).count() == 1)
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
        assert_eq!(encode_segment("Ünïcode-1.0_~"), "%C3%9Cn%C3%AFcode-1.0_~");
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

    #[test]
    fn only_plain_reads_are_cacheable() {
        assert!(plain_lookup(None));
        assert!(plain_lookup(Some("")));
        assert!(!plain_lookup(Some("consistency=stale")));
        assert!(plain_search(Some("topic=toys")));
        assert!(!plain_search(Some("topic=toys&consistency=stale")));
        assert!(!plain_search(Some("topic=a&topic=b")));
        assert!(!plain_search(Some("colour=red")));
    }
}
