//! A typed HTTP client for the public Bazaar API (frontend or node): one pooled,
//! kept-alive connection set per instance, the JSON envelope decoded into
//! `bazaar_api` types, and one hop to the leader on a not-leader answer. A shed answer
//! (503 `overloaded`, 429 `rate_limited`) becomes [`ClientError::Shed`] with the server's
//! `Retry-After`, and is sent again when the client was given a [`ShedRetry`].

use std::time::Duration;

use bazaar_api::archive::{ArchiveCommitAnswer, ArchiveCommitRequest};
use bazaar_api::{
    ApiError, ClusterAnswer, ClusterInfo, Envelope, ErrorEnvelope, LeaderHint, OrderRequest,
    OrderView, ProductList, ProductPatch, ProductSpec, ProductView, Reason, RestockRequest,
    SearchResult, IDEMPOTENCY_HEADER, LEADER_HEADER,
};
use bazaar_api::{
    DisarmAnswer, DisarmRequest, MemberId, MembersView, MembershipChange, TransferOutcome,
    TransferRequest, VersionInfo, INDEX_HEADER,
};
use bytes::Bytes;
use futures::Stream;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{parse_retry_after, ClientError};
use crate::shed::{retry_shed, ShedRetry};
use crate::transport::Transport;

/// Largest page `GET /products` serves.
const PAGE_LIMIT: usize = 1000;

/// The frontend's answer-path header (`hit`, `miss`); named here rather than imported
/// because the client does not depend on the frontend crate.
pub const CACHE_HEADER: &str = "x-cache";

/// Longest `X-Cache` value kept: the frontend sends a short word, and a history must not
/// grow with whatever a misbehaving proxy puts there.
const MAX_CACHE_HEADER: usize = 32;

/// How an answer was served, from its headers: what `bazaar check` records per
/// operation so a stale read can be traced to the path and log index that produced it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    /// `X-Bazaar-Index`: the applied log index the answer reflects.
    pub index: Option<u64>,
    /// `X-Cache` from a frontend (`hit`: from its cache, `miss`: read from a node through
    /// the cache path); absent from nodes and from the frontend's other passthroughs.
    pub cache: Option<String>,
}

impl Served {
    fn from_headers(headers: &reqwest::header::HeaderMap) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Served {
            index: text(INDEX_HEADER).and_then(|v| v.parse::<u64>().ok()),
            cache: text(CACHE_HEADER).map(|v| v.chars().take(MAX_CACHE_HEADER).collect()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
    /// How a shed request is sent again; `None`: its error is returned at once (the load
    /// generator and the checker pace their own retries).
    shed_retry: Option<ShedRetry>,
}

/// What one request carries besides method and path.
#[derive(Default)]
struct Extra<'a> {
    query: &'a [(&'a str, String)],
    body: Option<serde_json::Value>,
    idempotency_key: Option<&'a str>,
    admin: bool,
}

impl ApiClient {
    /// `base` is `http(s)://host:port`; `timeout` bounds each request end to end.
    pub fn new(base: &str, timeout: Duration, transport: &Transport) -> Result<Self, ClientError> {
        let http = transport
            .builder()?
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ClientError::transport(base, &e))?;
        Ok(Self {
            http,
            base: parse_base(base)?,
            token: None,
            shed_retry: None,
        })
    }

    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// Sends a shed request again as `policy` allows (the one-shot commands' clients).
    pub fn with_shed_retry(mut self, policy: ShedRetry) -> Self {
        self.shed_retry = Some(policy);
        self
    }

    /// A client for another process of the same cluster (`host:port`), on the same scheme,
    /// connection pool, deadline, token and shed retries.
    pub fn sibling(&self, address: &str) -> Result<Self, ClientError> {
        Ok(Self {
            http: self.http.clone(),
            base: parse_base(&format!("{}://{address}", self.base.scheme()))?,
            token: self.token.clone(),
            shed_retry: self.shed_retry,
        })
    }

    /// `once`, sent again while it is shed if this client was given a [`ShedRetry`].
    async fn shed_retried<T, F, Fut>(&self, once: F) -> Result<T, ClientError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        match self.shed_retry {
            Some(policy) => retry_shed(policy, once).await,
            None => {
                let mut once = once;
                once().await
            }
        }
    }

    pub fn base(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    pub async fn product(&self, name: &str) -> Result<ProductView, ClientError> {
        self.call(Method::GET, &["products", name], Extra::default())
            .await
    }

    /// `product`, with how the answer was served.
    pub async fn product_served(&self, name: &str) -> Result<(ProductView, Served), ClientError> {
        self.call_served(Method::GET, &["products", name], Extra::default())
            .await
    }

    pub async fn products_page(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<ProductList, ClientError> {
        let query = [("offset", offset.to_string()), ("limit", limit.to_string())];
        let extra = Extra {
            query: &query,
            ..Extra::default()
        };
        self.call(Method::GET, &["products"], extra).await
    }

    /// The whole catalog, page by page.
    pub async fn all_products(&self) -> Result<Vec<ProductView>, ClientError> {
        let mut out = Vec::new();
        loop {
            let page = self.products_page(out.len(), PAGE_LIMIT).await?;
            let got = page.products.len();
            out.extend(page.products);
            if got == 0 || out.len() >= page.total {
                return Ok(out);
            }
        }
    }

    pub async fn search(&self, topic: &str) -> Result<SearchResult, ClientError> {
        let query = [("topic", topic.to_owned())];
        let extra = Extra {
            query: &query,
            ..Extra::default()
        };
        self.call(Method::GET, &["search"], extra).await
    }

    pub async fn order(
        &self,
        req: &OrderRequest,
        key: Option<&str>,
    ) -> Result<OrderView, ClientError> {
        let extra = Extra {
            body: Some(to_json(req)?),
            idempotency_key: key,
            ..Extra::default()
        };
        self.call(Method::POST, &["orders"], extra).await
    }

    /// `order`, with how the answer was served.
    pub async fn order_served(
        &self,
        req: &OrderRequest,
        key: Option<&str>,
    ) -> Result<(OrderView, Served), ClientError> {
        let extra = Extra {
            body: Some(to_json(req)?),
            idempotency_key: key,
            ..Extra::default()
        };
        self.call_served(Method::POST, &["orders"], extra).await
    }

    pub async fn get_order(&self, number: u64) -> Result<OrderView, ClientError> {
        self.call(
            Method::GET,
            &["orders", &number.to_string()],
            Extra::default(),
        )
        .await
    }

    /// `GET /cluster`: the node's view, plus the frontend's own state from a frontend.
    pub async fn cluster_answer(&self) -> Result<ClusterAnswer, ClientError> {
        self.call(Method::GET, &["cluster"], Extra::default()).await
    }

    /// The answering node's view of the cluster.
    pub async fn cluster(&self) -> Result<ClusterInfo, ClientError> {
        self.cluster_answer().await.map(|a| a.cluster)
    }

    /// `GET /readyz`: `Ok` when ready; a 503 `not_ready` error says why not.
    pub async fn readiness(&self) -> Result<serde_json::Value, ClientError> {
        self.call(Method::GET, &["readyz"], Extra::default()).await
    }

    pub async fn health(&self) -> Result<serde_json::Value, ClientError> {
        self.call(Method::GET, &["health"], Extra::default()).await
    }

    /// Creates or replaces a product; with a key, a retry is answered with the first
    /// change's result instead of being applied again.
    pub async fn upsert(
        &self,
        spec: &ProductSpec,
        key: Option<&str>,
    ) -> Result<ProductView, ClientError> {
        let extra = Extra {
            body: Some(to_json(spec)?),
            admin: true,
            idempotency_key: key,
            ..Extra::default()
        };
        self.call(Method::POST, &["admin", "products"], extra).await
    }

    /// Changes a product's price and/or stock level; a key as for [`upsert`](Self::upsert).
    pub async fn update(
        &self,
        name: &str,
        patch: &ProductPatch,
        key: Option<&str>,
    ) -> Result<ProductView, ClientError> {
        let extra = Extra {
            body: Some(to_json(patch)?),
            admin: true,
            idempotency_key: key,
            ..Extra::default()
        };
        self.call(Method::PATCH, &["admin", "products", name], extra)
            .await
    }

    /// Restocks; with a key, a retry of a restock that did happen is not applied again.
    pub async fn restock(
        &self,
        req: &RestockRequest,
        key: Option<&str>,
    ) -> Result<ProductView, ClientError> {
        let extra = Extra {
            body: Some(to_json(req)?),
            admin: true,
            idempotency_key: key,
            ..Extra::default()
        };
        self.call(Method::POST, &["admin", "restock"], extra).await
    }

    /// `restock`, with how the answer was served.
    pub async fn restock_served(
        &self,
        req: &RestockRequest,
        key: Option<&str>,
    ) -> Result<(ProductView, Served), ClientError> {
        let extra = Extra {
            body: Some(to_json(req)?),
            admin: true,
            idempotency_key: key,
            ..Extra::default()
        };
        self.call_served(Method::POST, &["admin", "restock"], extra)
            .await
    }

    /// `GET /cluster/members`: the membership, with progress when a leader answers.
    pub async fn members(&self) -> Result<MembersView, ClientError> {
        self.call(Method::GET, &["cluster", "members"], Extra::default())
            .await
    }

    /// `GET /version` of the process at this client's URL.
    pub async fn version(&self) -> Result<VersionInfo, ClientError> {
        self.call(Method::GET, &["version"], Extra::default()).await
    }

    async fn admin_post<B: Serialize, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<T, ClientError> {
        let extra = Extra {
            body: Some(to_json(body)?),
            admin: true,
            ..Extra::default()
        };
        self.call(Method::POST, segments, extra).await
    }

    /// Adds a learner (it catches up in the background); answers the members after it.
    pub async fn add_learner(&self, change: &MembershipChange) -> Result<MembersView, ClientError> {
        self.admin_post(&["admin", "membership", "learners"], change)
            .await
    }

    /// Makes a caught-up learner a voter.
    pub async fn promote(&self, id: u64) -> Result<MembersView, ClientError> {
        self.admin_post(&["admin", "membership", "promote"], &MemberId { id })
            .await
    }

    /// Removes a member, voter or learner, from the cluster.
    pub async fn remove_member(&self, id: u64) -> Result<MembersView, ClientError> {
        self.admin_post(&["admin", "membership", "remove"], &MemberId { id })
            .await
    }

    /// Moves leadership to `to`, or to the most up-to-date voter.
    pub async fn transfer_leader(&self, to: Option<u64>) -> Result<TransferOutcome, ClientError> {
        self.admin_post(&["admin", "leader", "transfer"], &TransferRequest { to })
            .await
    }

    /// Ends the alarms `req` names (the leader first checks every voter has space).
    pub async fn disarm_alarms(&self, req: &DisarmRequest) -> Result<DisarmAnswer, ClientError> {
        self.admin_post(&["admin", "alarms", "disarm"], req).await
    }

    /// `GET /admin/backup`: the node's answer, once it said yes, as a stream of chunks
    /// (`backup_save` writes them to a file). [`BACKUP_DEADLINE`] replaces the client's
    /// per-request timeout for the whole download: a large state takes long to dump and send.
    pub async fn backup_stream(&self) -> Result<BackupStream, ClientError> {
        self.download(&["admin", "backup"], &[]).await
    }

    /// `GET /admin/archive/stream?upto=N`: an archive file of the orders after the last
    /// archive up to `upto`, read at a linearizable index by this client's node (any node
    /// serves it), as a stream of chunks under [`BACKUP_DEADLINE`] (`archive_file` saves it).
    pub async fn archive_stream(&self, upto: u64) -> Result<BackupStream, ClientError> {
        self.download(
            &["admin", "archive", "stream"],
            &[("upto", upto.to_string())],
        )
        .await
    }

    /// `POST /admin/archive/commit`, through the leader: removes the orders of a saved
    /// archive from every replica whose own copy has the file's digest. A retry of a commit
    /// already applied answers `already`.
    pub async fn archive_commit(
        &self,
        req: &ArchiveCommitRequest,
    ) -> Result<ArchiveCommitAnswer, ClientError> {
        self.admin_post(&["admin", "archive", "commit"], req).await
    }

    /// An admin `GET` whose body is a file, once the node said yes: a stream of chunks.
    async fn download(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<BackupStream, ClientError> {
        let url = self.url(segments)?;
        self.shed_retried(|| self.download_once(url.clone(), query))
            .await
    }

    async fn download_once(
        &self,
        url: Url,
        query: &[(&str, String)],
    ) -> Result<BackupStream, ClientError> {
        let token = self.admin_token()?;
        let mut req = self
            .http
            .get(url.clone())
            .bearer_auth(token)
            .timeout(BACKUP_DEADLINE);
        if !query.is_empty() {
            req = req.query(query);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ClientError::transport(url.as_str(), &e))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let retry_after = retry_after_header(resp.headers());
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| ClientError::transport(url.as_str(), &e))?;
            return Err(match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
                Ok(env) => error_answer(env, retry_after),
                Err(_) => decode_error(url.as_str(), status, &String::from_utf8_lossy(&bytes)),
            });
        }
        let index = resp
            .headers()
            .get(INDEX_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        Ok(BackupStream {
            total: resp.content_length(),
            index,
            url: url.to_string(),
            resp,
        })
    }

    fn admin_token(&self) -> Result<&str, ClientError> {
        self.token.as_deref().ok_or_else(|| {
            ClientError::Usage(
                "admin commands need a token (--token, BAZAAR_ADMIN_TOKEN or security.admin_token)"
                    .into(),
            )
        })
    }

    fn url(&self, segments: &[&str]) -> Result<Url, ClientError> {
        url_at(&self.base, segments)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        extra: Extra<'_>,
    ) -> Result<T, ClientError> {
        self.call_served(method, segments, extra)
            .await
            .map(|(data, _)| data)
    }

    /// [`call_once`](Self::call_once), sent again while it is shed if this client says so.
    async fn call_served<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        extra: Extra<'_>,
    ) -> Result<(T, Served), ClientError> {
        let (method, extra) = (&method, &extra);
        self.shed_retried(|| self.call_once(method.clone(), segments, extra))
            .await
    }

    /// Sends once; on 421 with a leader hint, sends once more to the leader, since a node
    /// never forwards writes itself.
    async fn call_once<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        extra: &Extra<'_>,
    ) -> Result<(T, Served), ClientError> {
        let url = self.url(segments)?;
        match self.send(method.clone(), url, extra).await {
            Err(ClientError::Api(ApiError {
                reason: Reason::NotLeader,
                leader: Some(hint),
                ..
            })) => {
                // The leader serves the same scheme as the node that named it.
                let leader = parse_base(&format!("{}://{}", self.base.scheme(), hint.api))?;
                self.send(method, url_at(&leader, segments)?, extra).await
            }
            other => other,
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        extra: &Extra<'_>,
    ) -> Result<(T, Served), ClientError> {
        let mut req = self.http.request(method, url.clone());
        if !extra.query.is_empty() {
            req = req.query(extra.query);
        }
        if let Some(body) = &extra.body {
            req = req.json(body);
        }
        if let Some(key) = extra.idempotency_key {
            req = req.header(IDEMPOTENCY_HEADER, key);
        }
        if extra.admin {
            req = req.bearer_auth(self.admin_token()?);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ClientError::transport(url.as_str(), &e))?;
        let status = resp.status().as_u16();
        let leader_header = resp
            .headers()
            .get(LEADER_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let served = Served::from_headers(resp.headers());
        let retry_after = retry_after_header(resp.headers());
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::transport(url.as_str(), &e))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice::<Envelope<T>>(&bytes)
                .map(|env| (env.data, served))
                .map_err(|_| decode_error(url.as_str(), status, &String::from_utf8_lossy(&bytes)));
        }
        match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
            Ok(env) => match error_answer(env, retry_after) {
                ClientError::Api(mut err)
                    if err.reason == Reason::NotLeader && err.leader.is_none() =>
                {
                    err.leader = LeaderHint::from_answer(&bytes, leader_header.as_deref());
                    Err(ClientError::Api(err))
                }
                other => Err(other),
            },
            Err(_) => Err(decode_error(
                url.as_str(),
                status,
                &String::from_utf8_lossy(&bytes),
            )),
        }
    }
}

/// Longest a backup download may take, dump and transfer together.
pub const BACKUP_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// A backup or an archive on its way from a node: the body still to read, and what the
/// headers said.
pub struct BackupStream {
    resp: reqwest::Response,
    /// `X-Bazaar-Index`: the log index the node says the backup holds (for an archive: the
    /// node's applied index).
    pub index: Option<u64>,
    /// The body's length, when the node sent one.
    pub total: Option<u64>,
    url: String,
}

impl BackupStream {
    /// The next piece of the body, or `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, ClientError> {
        self.resp
            .chunk()
            .await
            .map_err(|e| ClientError::transport(&self.url, &e))
    }

    /// The rest of the body as a stream of chunks.
    pub fn into_chunks(self) -> impl Stream<Item = Result<Bytes, ClientError>> {
        futures::stream::try_unfold(self, |mut body| async move {
            Ok(body.chunk().await?.map(|chunk| (chunk, body)))
        })
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value, ClientError> {
    serde_json::to_value(value)
        .map_err(|e| ClientError::Usage(format!("cannot encode request: {e}")))
}

/// The seconds of an answer's `Retry-After`, when it has one that reads.
fn retry_after_header(headers: &reqwest::header::HeaderMap) -> Option<u32> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| parse_retry_after(v.as_bytes()))
}

/// The error an error envelope describes, with the answer's `Retry-After` header as its
/// hint where the header reads (else the envelope's own `retry_after_secs`).
fn error_answer(env: ErrorEnvelope, retry_after: Option<u32>) -> ClientError {
    let mut err = ApiError::from_envelope(env);
    if retry_after.is_some() {
        err.retry_after_secs = retry_after;
    }
    ClientError::from_answer(err)
}

fn decode_error(url: &str, status: u16, body: &str) -> ClientError {
    let mut body: String = body.chars().take(200).collect();
    if body.is_empty() {
        body = "(empty body)".into();
    }
    ClientError::Decode {
        url: url.to_owned(),
        status,
        body,
    }
}

/// Accepts `http://host:port`, `host:port`, with or without a trailing slash.
pub fn parse_base(base: &str) -> Result<Url, ClientError> {
    let with_scheme = if base.contains("://") {
        base.to_owned()
    } else {
        format!("http://{base}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| ClientError::BadUrl {
        url: base.to_owned(),
        reason: e.to_string(),
    })?;
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(ClientError::BadUrl {
            url: base.to_owned(),
            reason: "not an http://host:port address".into(),
        });
    }
    Ok(url)
}

fn url_at(base: &Url, segments: &[&str]) -> Result<Url, ClientError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|_| ClientError::BadUrl {
            url: base.to_string(),
            reason: "cannot hold a path".into(),
        })?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_spaces_are_escaped_in_the_path() {
        let base = parse_base("127.0.0.1:8080").expect("valid base");
        let url = url_at(&base, &["products", "RPCs for Noobs"]).expect("valid url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/products/RPCs%20for%20Noobs"
        );
    }

    #[test]
    fn served_reads_the_index_and_cache_headers() {
        use reqwest::header::{HeaderMap, HeaderValue};
        let mut headers = HeaderMap::new();
        assert_eq!(Served::from_headers(&headers), Served::default());
        headers.insert(INDEX_HEADER, HeaderValue::from_static("42049"));
        headers.insert(CACHE_HEADER, HeaderValue::from_static("hit"));
        assert_eq!(
            Served::from_headers(&headers),
            Served {
                index: Some(42049),
                cache: Some("hit".into())
            }
        );
        // An unparsable index is left out, not guessed; an overlong path word is cut.
        headers.insert(INDEX_HEADER, HeaderValue::from_static("soon"));
        headers.insert(
            CACHE_HEADER,
            HeaderValue::from_str(&"m".repeat(100)).unwrap(),
        );
        let served = Served::from_headers(&headers);
        assert_eq!(served.index, None);
        assert_eq!(served.cache.map(|c| c.len()), Some(MAX_CACHE_HEADER));
    }

    #[test]
    fn bad_bases_are_rejected() {
        assert!(parse_base("http://").is_err());
        assert!(parse_base("http://127.0.0.1:8080/").is_ok());
    }

    mod shed {
        use std::time::Instant;

        use bazaar_api::ApiError;

        use super::super::*;
        use crate::test_server::{Answer, TestServer};

        fn client(url: &str) -> ApiClient {
            ApiClient::new(url, Duration::from_secs(5), &Transport::default()).expect("client")
        }

        fn product() -> serde_json::Value {
            serde_json::json!({
                "name": "Tux", "title": "Tux", "topic": "toys",
                "price": 1.5, "quantity": 3, "version": 7
            })
        }

        #[tokio::test]
        async fn a_shed_answer_is_a_shed_error_with_the_header_s_retry_after() {
            // The header wins over the envelope's own figure when both are there.
            let server = TestServer::start(vec![Answer::shed(
                &ApiError::overloaded("cached reads", 7),
                "2",
            )])
            .await;
            let e = client(&server.url).product("Tux").await.expect_err("shed");
            assert!(e.is_shed() && !e.is_indeterminate(), "{e:?}");
            assert_eq!(e.reason(), Some(Reason::Overloaded));
            assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
            // No retry policy: sent once.
            assert_eq!(server.arrivals().len(), 1);

            // A garbled header leaves the envelope's figure; a 429 is shed too.
            let server =
                TestServer::start(vec![Answer::shed(&ApiError::rate_limited(4), "later")]).await;
            let e = client(&server.url)
                .order(
                    &OrderRequest {
                        name: "Tux".into(),
                        quantity: 1,
                    },
                    None,
                )
                .await
                .expect_err("shed");
            assert!(e.is_shed() && !e.is_indeterminate(), "{e:?}");
            assert_eq!(e.reason(), Some(Reason::RateLimited));
            assert_eq!(e.retry_after(), Some(Duration::from_secs(4)));
        }

        #[tokio::test]
        async fn with_a_policy_a_shed_request_is_sent_again_after_retry_after() {
            let server = TestServer::start(vec![
                Answer::shed(&ApiError::overloaded("cached reads", 1), "1"),
                Answer::ok(product()),
            ])
            .await;
            let started = Instant::now();
            let c = client(&server.url)
                .with_shed_retry(ShedRetry::for_command(Duration::from_secs(10)));
            let p = c.product("Tux").await.expect("answered the second time");
            assert_eq!(p.quantity, 3);
            let arrivals = server.arrivals();
            assert_eq!(arrivals.len(), 2, "{arrivals:?}");
            assert!(arrivals
                .iter()
                .all(|a| a.line.starts_with("GET /products/Tux ")));
            assert!(
                arrivals[1].at - arrivals[0].at >= Duration::from_secs(1),
                "{arrivals:?}"
            );
            assert!(started.elapsed() >= Duration::from_secs(1));
        }
    }
}
