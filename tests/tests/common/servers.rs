//! HTTP servers of the component, started as child processes pointed at an emulator:
//! `sdp-agent serve`, the stock `wasmtime serve` (and `mlflow models serve` of the packaged
//! model). Each is stopped (killed) on drop.
#![allow(dead_code)]

use rustix::process::{Pid, Signal};
use sdp_emulator::Emulator;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a server may take to announce itself (a first run compiles the component).
const START_LIMIT: Duration = Duration::from_secs(120);

pub use super::{component, wasmtime};

/// Which host serves the component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    SdpAgent,
    Wasmtime,
    /// `mlflow models serve` of the packaged model.
    Mlflow,
}

/// A running server; its stderr is kept for failure messages.
pub struct Server {
    pub host: Host,
    child: Child,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// `sdp-agent serve --listen 127.0.0.1:0 [extra]` against `emu`, with the operator's
    /// runner (`SDP_AGENT_RUNNER_PATH`, what `--runner-path` overrides): checked callers may
    /// not name one.
    pub fn sdp_agent(emu: &Emulator, extra: &[&str]) -> Server {
        let mut cmd = super::agent_command(emu);
        cmd.env("RUST_LOG", "info")
            .env("SDP_AGENT_RUNNER_PATH", super::RUNNER)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra);
        Self::start(Host::SdpAgent, cmd, "sdp-agent serve: listening on ")
    }

    /// `wasmtime serve` on the built component; the component itself sends the token here.
    pub fn wasmtime(emu: &Emulator) -> Server {
        let mut cmd = Command::new(wasmtime());
        cmd.args(["serve", "-Scli", "--addr", "127.0.0.1:0"])
            .args(["--env", &format!("DATABRICKS_HOST={}", emu.url())]);
        if let Some(token) = emu.token() {
            cmd.args(["--env", &format!("DATABRICKS_TOKEN={token}")]);
        }
        cmd.arg(component());
        Self::start(Host::Wasmtime, cmd, "Serving HTTP on ")
    }

    pub fn start(host: Host, mut cmd: Command, marker: &str) -> Server {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the server starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (found, url) = mpsc::channel();
        let (marker, sink) = (marker.to_string(), log.clone());
        // Keeps draining stderr for the server's whole life so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split(&marker).nth(1) {
                    let _ = found.send(rest.trim().trim_end_matches('/').to_string());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let url = match url.recv_timeout(START_LIMIT) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("{host:?} did not start:\n{}", log.lock().unwrap());
            }
        };
        Server {
            host,
            child,
            url,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The stdout of a client run against this server, which must have succeeded (its output
    /// and the server's log are the message if it did not).
    pub fn client_stdout(&self, out: &std::process::Output) -> String {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}\n{}\nserver:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        stdout
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        rustix::process::kill_process(pid(self.pid()), Signal::TERM).expect("SIGTERM is sent");
    }

    /// The exit status, waiting at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// SIGKILL to the process group `leader` leads (a child spawned with `process_group(0)`).
/// A syscall, not the `kill` command: procps-ng 4.0.2 reads `kill -KILL -12345` as kill(-1),
/// which killed every process of the user, CI included.
pub fn kill_group(leader: u32) {
    let _ = rustix::process::kill_process_group(pid(leader), Signal::KILL);
}

fn pid(raw: u32) -> Pid {
    // A child's pid is positive; 0 or -1 here would signal our own group or everyone.
    Pid::from_raw(i32::try_from(raw).expect("a pid fits i32")).expect("a child's pid is not 0")
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
