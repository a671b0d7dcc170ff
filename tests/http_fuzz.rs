//! Malformed requests against a real node and a real frontend: methods, paths, query strings
//! with raw non-ASCII bytes, headers and bodies from a seeded generator, each sent as raw
//! bytes on its own connection. Every one must get an HTTP answer (a status line) that is
//! not a 5xx; a connection closed without one, or reset before it could be read, fails.
//! The seed is printed and can be set with `BAZAAR_FUZZ_SEED` to replay a failure.

mod common;

use std::io::ErrorKind;
use std::time::Duration;

use common::{Frontend, TestCluster, DEADLINE, PEER_TOKEN, TOKEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Requests per target (the node's `api` listener, its `raft` listener, the frontend).
const REQUESTS: usize = 3_000;

/// xorshift64*: small, seeded, the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn bytes(&mut self, len: usize, from: &[u8]) -> Vec<u8> {
        (0..len).map(|_| from[self.below(from.len())]).collect()
    }
    /// Up to `max` raw bytes without any of `unless` (which would end the line or field).
    fn raw(&mut self, max: usize, unless: &[u8]) -> Vec<u8> {
        let len = self.below(max);
        let mut bytes = self.bytes(len, RAW);
        bytes.retain(|b| !unless.contains(b));
        bytes
    }
}

const METHODS: [&str; 14] = [
    "GET", "GET", "GET", "POST", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE",
    "get", "BREW", "M-SEARCH",
];

/// Paths the listeners serve, and some they do not.
const PATHS: [&str; 28] = [
    "/products",
    "/products/",
    "/products/widget",
    "/products/%ZZ",
    "/products/%FF%FE",
    "/search",
    "/orders",
    "/orders/1",
    "/orders/-1",
    "/orders/99999999999999999999999",
    "/orders/batch",
    "/lookup",
    "/cluster",
    "/cluster/members",
    "/cluster/nodes",
    "/watch",
    "/metrics",
    "/livez",
    "/readyz",
    "/health",
    "/version",
    "/admin/products",
    "/admin/products/widget",
    "/admin/restock",
    "/admin/alarms/disarm",
    "/admin/leader/transfer",
    "/raft/append",
    "/raft/read-index",
];

const QUERY_KEYS: [&str; 8] = ["q", "from", "consistency", "limit", "💥", "", "a b", "%"];
const QUERY_VALUES: [&str; 10] = [
    "",
    "linearizable",
    "stale",
    "bogus",
    "-1",
    "18446744073709551616",
    "0",
    "%",
    "%C3%28",
    "tee shirt",
];

const HEADER_NAMES: [&str; 9] = [
    "Content-Type",
    "Accept",
    "Authorization",
    "Idempotency-Key",
    "X-Request-Id",
    "X-Bazaar-Index",
    "If-None-Match",
    "Cookie",
    "X-Fuzz",
];
const HEADER_VALUES: [&str; 10] = [
    "application/json",
    "text/plain",
    "application/x-ndjson",
    "Bearer wrong",
    "Bearer ",
    "*/*",
    "",
    "key-1",
    "0",
    "a,b;c=d",
];

/// JSON bodies near what the routes take, and not quite.
const BODIES: [&str; 14] = [
    "",
    "{}",
    "[]",
    "null",
    "{\"product\":\"widget\",\"quantity\":1}",
    "{\"product\":\"widget\",\"quantity\":-1}",
    "{\"product\":\"widget\",\"quantity\":1e400}",
    "{\"product\":7,\"quantity\":\"x\"}",
    "{\"names\":[\"widget\",\"gadget\"]}",
    "{\"orders\":[{\"key\":\"k\",\"product\":\"widget\",\"quantity\":1}]}",
    "{\"name\":\"widget\",\"title\":\"W\",\"price\":\"1.00\",\"quantity\":3}",
    "{\"product\":\"widget\"",
    "\u{0}\u{1}\u{2}",
    "{\"a\":",
];

/// Raw bytes that request lines and headers may carry (obs-text, controls, UTF-8 pieces).
const RAW: &[u8] =
    b"abz09-._~!$&'()*+,;=:@/?%#[] \t\x00\x01\x7f\x80\x9f\xa0\xc3\xa9\xf0\x9f\x92\xa5\xff";

/// One request as raw bytes: a request line, headers and a body whose length is always
/// declared right (so a server never waits for bytes that will not come).
fn request(rng: &mut Rng, host: &str, token: &str) -> Vec<u8> {
    let method: Vec<u8> = if rng.chance(3) {
        let len = 1 + rng.below(6);
        rng.bytes(len, RAW)
    } else {
        rng.pick(&METHODS).as_bytes().to_vec()
    };
    let mut target: Vec<u8> = rng.pick(&PATHS).as_bytes().to_vec();
    if rng.chance(20) {
        target.extend_from_slice(b"/");
        target.extend(rng.raw(40, b" \r\n"));
    }
    if rng.chance(10) {
        target.extend(std::iter::repeat_n(b'a', 100 + rng.below(9_000)));
    }
    if rng.chance(50) {
        target.push(b'?');
        for i in 0..rng.below(4) {
            if i > 0 {
                target.push(b'&');
            }
            target.extend_from_slice(rng.pick(&QUERY_KEYS).as_bytes());
            if rng.chance(80) {
                target.push(b'=');
                if rng.chance(30) {
                    target.extend(rng.raw(12, b" \r\n"));
                } else {
                    target.extend_from_slice(rng.pick(&QUERY_VALUES).as_bytes());
                }
            }
        }
    }
    // Raw spaces would split the request line: keep them as a server would see a bad
    // client's bytes only sometimes.
    if !rng.chance(3) {
        target.retain(|b| *b != b' ');
    }
    let version: &[u8] = match rng.below(20) {
        0 => b"HTTP/1.0",
        1 => b"HTTP/9.9",
        2 => b"HTTP/1",
        _ => b"HTTP/1.1",
    };
    let body: Vec<u8> = match rng.below(10) {
        0 => {
            let len = rng.below(300);
            rng.bytes(len, RAW)
        }
        1 => {
            // Nesting deeper than any parser's recursion limit.
            let depth = 1_000 + rng.below(5_000);
            let mut deep = vec![b'['; depth];
            deep.extend(std::iter::repeat_n(b']', depth));
            deep
        }
        2 => vec![b'x'; 2 << 20],
        _ => rng.pick(&BODIES).as_bytes().to_vec(),
    };
    let mut out = Vec::with_capacity(body.len() + 512);
    out.extend_from_slice(&method);
    out.push(b' ');
    out.extend_from_slice(&target);
    out.push(b' ');
    out.extend_from_slice(version);
    out.extend_from_slice(b"\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\nConnection: close\r\n");
    for _ in 0..rng.below(5) {
        let name = rng.pick(&HEADER_NAMES);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        if name == "Authorization" && rng.chance(30) {
            out.extend_from_slice(format!("Bearer {token}").as_bytes());
        } else if rng.chance(30) {
            out.extend(rng.raw(30, b"\r\n"));
        } else {
            out.extend_from_slice(rng.pick(&HEADER_VALUES).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    if rng.chance(3) {
        // A header line without a colon.
        out.extend_from_slice(b"garbage line\r\n");
    }
    if !body.is_empty() || rng.chance(50) {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

/// What came back for one request: the status code, or why there was none.
enum Outcome {
    Status(u16),
    /// Bytes came back that are not a status line.
    NotHttp(String),
    /// The connection ended (closed or reset) before a whole status line arrived.
    Closed(String),
}

/// Sends `raw` on a new connection and reads the status line. The request is written in
/// full before anything is read, as a client would, even if the server answers early.
async fn exchange(addr: &str, raw: &[u8]) -> Outcome {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let (mut read, mut write) = stream.split();
    let send = async {
        // A server may answer (413, 400) and stop reading before the body is all sent: a
        // failed write is then expected, and the answer is still to be read. The write
        // side stays open, as an ordinary client's does (hyper ends a connection whose
        // client half-closes before the answer).
        let _ = write.write_all(raw).await;
    };
    let receive = async {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = got.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&got[..end]).into_owned();
                let code = line
                    .strip_prefix("HTTP/1.")
                    .and_then(|rest| rest.get(2..5))
                    .and_then(|code| code.parse().ok());
                return match code {
                    Some(code) => Outcome::Status(code),
                    None => Outcome::NotHttp(line),
                };
            }
            match read.read(&mut buf).await {
                Ok(0) => return Outcome::Closed(format!("closed after {} bytes", got.len())),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Outcome::Closed(format!("{e} after {} bytes", got.len())),
            }
        }
    };
    let (_, outcome) = tokio::time::timeout(DEADLINE, async { tokio::join!(send, receive) })
        .await
        .expect("an answer within the deadline");
    outcome
}

fn seed() -> u64 {
    let seed = std::env::var("BAZAAR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00C0_FFEE_D00D_F00D);
    eprintln!("fuzz seed {seed} (BAZAAR_FUZZ_SEED replays it)");
    seed.max(1)
}

/// Sends `REQUESTS` generated requests to `addr`; returns every one that failed, with its
/// bytes (shortened) and what came back, and the answers by status class.
async fn fuzz(addr: &str, token: &str, rng: &mut Rng) -> (Vec<String>, [usize; 6]) {
    let mut failures = Vec::new();
    let mut classes = [0usize; 6];
    let mut codes = std::collections::BTreeMap::<u16, usize>::new();
    for _ in 0..REQUESTS {
        let raw = request(rng, addr, token);
        let outcome = exchange(addr, &raw).await;
        if let Outcome::Status(code) = outcome {
            classes[usize::from(code / 100).min(5)] += 1;
            *codes.entry(code).or_default() += 1;
            if code < 500 {
                continue;
            }
        }
        let shown: Vec<u8> = raw.iter().copied().take(300).collect();
        let what = match outcome {
            Outcome::Status(code) => format!("status {code}"),
            Outcome::NotHttp(line) => format!("not HTTP: {line:?}"),
            Outcome::Closed(how) => format!("no answer: {how}"),
        };
        failures.push(format!("{what} for {:?}", String::from_utf8_lossy(&shown)));
    }
    eprintln!("{addr}: answers by status {codes:?}");
    (failures, classes)
}

#[tokio::test]
async fn every_malformed_request_gets_an_answer_and_none_a_5xx() {
    let cluster = TestCluster::start(1).await;
    cluster.create_product("widget", "Widget", 1_000_000).await;
    let frontend = Frontend::start(&cluster, &["--admin"], &[]);
    let mut rng = Rng(seed());
    // The peer listener takes no request this generator makes whole (its bodies are
    // bincode), so only refusals are wanted there; the others must accept some too.
    let targets = [
        ("node api", cluster.api_url(1), TOKEN, true),
        ("node raft", cluster.raft_url(1), PEER_TOKEN, false),
        ("frontend", frontend.url.clone(), TOKEN, true),
    ];
    let mut failed = Vec::new();
    for (name, url, token, some_accepted) in &targets {
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let (failures, classes) = fuzz(&addr, token, &mut rng).await;
        eprintln!("{name}: answers by class 1xx..5xx {:?}", &classes[1..]);
        // The generator must reach what it aims at: refusals, and answers that accept.
        assert!(classes[4] > 0, "{name}: {classes:?}");
        assert!(!some_accepted || classes[2] > 0, "{name}: {classes:?}");
        failed.extend(
            failures
                .into_iter()
                .take(20)
                .map(|f| format!("{name}: {f}")),
        );
    }
    // The node must still be serving after all that.
    let ready = cluster
        .http
        .get(format!("{}/readyz", cluster.api_url(1)))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("the node still answers");
    assert!(ready.status().is_success(), "{:?}", ready.status());
    assert!(
        failed.is_empty(),
        "requests without a proper answer:\n{}",
        failed.join("\n")
    );
}
