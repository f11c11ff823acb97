//! A stub OpenAI-compatible chat endpoint on loopback (what llama.cpp, vLLM or Ollama serve at
//! `/v1/chat/completions`): it answers scripted replies in order, then its default, and keeps
//! every request as received (head and body bytes), so a test can prove what reached a model.
#![allow(dead_code)] // each test file uses a different part of it

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// One answer: status and body (always `application/json`).
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// A chat completion whose message is `content`, ending with `finish_reason`, and whose
    /// `usage` reports the given token counts.
    pub fn completion(content: &str, finish_reason: &str, usage: (u64, u64)) -> Reply {
        let body = json!({
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": 1_767_225_600,
            "model": "stub-model",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }],
            "usage": {
                "prompt_tokens": usage.0,
                "completion_tokens": usage.1,
                "total_tokens": usage.0 + usage.1,
            },
        });
        Reply {
            status: 200,
            body: body.to_string(),
        }
    }

    pub fn error(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: body.to_string(),
        }
    }
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Lower-cased names, values as text.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }
}

/// The stub; its thread lives as long as the test process.
pub struct ModelStub {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl ModelStub {
    /// Answers `scripted` in order, then `default` to every further request.
    pub fn start(scripted: Vec<Reply>, default: Reply) -> ModelStub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("bound address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let mut queue: VecDeque<Reply> = scripted.into();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                // Recorded before answering: once the client has its answer, the test may look.
                log.lock().unwrap().push(request);
                let reply = queue.pop_front().unwrap_or_else(|| default.clone());
                let head = format!(
                    "HTTP/1.1 {} Stub\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    reply.status,
                    reply.body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(reply.body.as_bytes());
            }
        });
        ModelStub { port, received }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Reads one request (head, then `content-length` bytes of body).
fn read_request(stream: &mut TcpStream) -> Option<Received> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(head_len) = request.parse(&buf).ok()? else {
            continue;
        };
        let headers: Vec<(String, String)> = request
            .headers
            .iter()
            .map(|h| {
                let value = String::from_utf8_lossy(h.value).into_owned();
                (h.name.to_ascii_lowercase(), value)
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let (method, path) = (request.method?.to_string(), request.path?.to_string());
        while buf.len() < head_len + length {
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        return Some(Received {
            method,
            path,
            headers,
            body: buf[head_len..head_len + length].to_vec(),
        });
    }
}
