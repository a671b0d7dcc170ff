//! Unit tests only: a tiny HTTP/1.1 server on loopback that answers each request with the
//! next of a scripted list of answers (the last one repeated) and records when each
//! request arrived, so a test sees what a client sent and how far apart.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One scripted answer: status line, extra headers, JSON body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Answer {
    /// A shed answer as a Bazaar process sends it: the envelope and `Retry-After`.
    pub fn shed(error: &bazaar_api::ApiError, retry_after: &str) -> Self {
        let status = match error.status() {
            429 => "429 Too Many Requests",
            _ => "503 Service Unavailable",
        };
        Answer {
            status,
            headers: vec![("retry-after", retry_after.to_owned())],
            body: serde_json::to_string(&error.to_envelope()).expect("an envelope encodes"),
        }
    }

    /// 200 with `{"data": data}`.
    pub fn ok(data: serde_json::Value) -> Self {
        Answer {
            status: "200 OK",
            headers: Vec::new(),
            body: serde_json::json!({ "data": data }).to_string(),
        }
    }
}

/// A request as it arrived: its request line (`GET /products/Tux HTTP/1.1`), its
/// headers (names lowercased) and when.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub line: String,
    pub headers: Vec<(String, String)>,
    pub at: Instant,
}

impl Arrival {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct TestServer {
    pub url: String,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Serves `script` in order on a fresh loopback port until dropped.
    pub async fn start(script: Vec<Answer>) -> Self {
        assert!(!script.is_empty(), "a script needs an answer");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("bound address"));
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let seen = arrivals.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                let script = script.clone();
                tokio::spawn(async move { serve(stream, &seen, &script).await });
            }
        });
        TestServer {
            url,
            arrivals,
            task,
        }
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().expect("not poisoned").clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One request on `stream`: read its head and body, answer it, close.
async fn serve(mut stream: TcpStream, seen: &Mutex<Vec<Arrival>>, script: &[Answer]) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let answer = {
        let mut seen = seen.lock().expect("not poisoned");
        seen.push(Arrival {
            line: head.lines().next().unwrap_or_default().to_owned(),
            headers: head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect(),
            at: Instant::now(),
        });
        script[(seen.len() - 1).min(script.len() - 1)].clone()
    };
    let mut out = format!(
        "HTTP/1.1 {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        answer.status,
        answer.body.len()
    );
    for (name, value) in &answer.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&answer.body);
    let _ = stream.write_all(out.as_bytes()).await;
    let _ = stream.shutdown().await;
}
