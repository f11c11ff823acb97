//! The engine's one Spark Connect server, started at the first update and kept for the
//! engine's lifetime: a JVM start costs far more than a pipeline update, so every update after
//! the first runs warm against it. The server binds a free loopback port of its own (not the
//! 15002 of Spark's `local` mode), so emulators on one machine no longer wait for each other.
//!
//! The JVM lives in the engine's directory (`server/`: its Hive metastore, warehouse, scratch
//! files and log). It is stopped when the last handle on the engine goes; if the emulator's
//! process dies instead, the kernel stops it (the parent-death signal of the thread that
//! started it, a thread that lives exactly as long as the server).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use rustix::process::{Pid, Signal, kill_process, set_parent_process_death_signal};

/// How long a JVM may take to open its port (a loaded 2-core machine has needed over a minute).
const START_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a stopping JVM is waited for.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries with a new port when the one picked was taken before the JVM bound it.
const START_ATTEMPTS: usize = 3;

/// A running server.
#[derive(Debug)]
pub(super) struct Server {
    pub port: u16,
    pid: Pid,
    /// Set by the keeper thread when the JVM exited.
    exited: Arc<AtomicBool>,
}

impl Server {
    /// `sc://127.0.0.1:<port>`, what the driver's `SPARK_REMOTE` is.
    pub fn remote(&self) -> String {
        format!("sc://127.0.0.1:{}", self.port)
    }

    pub fn alive(&self) -> bool {
        !self.exited.load(Ordering::SeqCst)
    }

    /// Starts a server over `venv`'s pyspark in `dir` and waits until it accepts connections.
    pub async fn start(venv: &Path, dir: &Path) -> anyhow::Result<Server> {
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            let (venv, dir) = (venv.to_path_buf(), dir.to_path_buf());
            match tokio::task::spawn_blocking(move || start_once(&venv, &dir)).await? {
                Ok(server) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("the Spark server did not start")))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM: the JVM's shutdown hooks stop Spark and close the metastore; its files are
        // removed next, so give it a moment to let go of them.
        if self.alive() {
            let _ = kill_process(self.pid, Signal::TERM);
            let deadline = Instant::now() + STOP_TIMEOUT;
            while self.alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn start_once(venv: &Path, dir: &Path) -> anyhow::Result<Server> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let port = free_port()?;
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut command = command(venv, dir, port);
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // The child is forked by the keeper thread below, which then waits for it: the parent-death
    // signal fires when that thread ends, i.e. only when the server is gone or the process dies.
    let (sent, started) = std::sync::mpsc::channel();
    let exited = Arc::new(AtomicBool::new(false));
    let flag = exited.clone();
    std::thread::Builder::new()
        .name("sdp-spark-server".into())
        .spawn(move || {
            // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    set_parent_process_death_signal(Some(Signal::KILL))?;
                    Ok(())
                });
            }
            let mut child = match command.spawn() {
                Ok(child) => child,
                Err(e) => {
                    let _ = sent.send(Err(e));
                    flag.store(true, Ordering::SeqCst);
                    return;
                }
            };
            let _ = sent.send(Ok(child.id()));
            let _ = child.wait();
            flag.store(true, Ordering::SeqCst);
        })?;
    let pid = started
        .recv()
        .context("the Spark server's keeper thread ended")?
        .context("starting the Spark Connect server")?;
    let server = Server {
        port,
        pid: Pid::from_raw(pid as i32).context("the Spark server has no pid")?,
        exited,
    };
    let deadline = Instant::now() + START_TIMEOUT;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    while Instant::now() < deadline {
        if !server.alive() {
            anyhow::bail!(
                "the Spark Connect server stopped while starting:\n{}",
                tail(&log_path)
            );
        }
        if TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok() {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    anyhow::bail!(
        "the Spark Connect server did not open port {port} within {}s:\n{}",
        START_TIMEOUT.as_secs(),
        tail(&log_path)
    )
}

/// `spark-submit` of Spark's Connect server with the settings every update shares: loopback
/// only, no UI, Hive tables under `dir/warehouse`, scratch files under `dir/jvm-tmp`.
fn command(venv: &Path, dir: &Path, port: u16) -> Command {
    let bin = venv.join("bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin.clone()];
    paths.extend(std::env::split_paths(&path));
    let scratch = dir.join("jvm-tmp");
    let _ = std::fs::create_dir_all(&scratch);
    let mut java_options = std::env::var("JAVA_TOOL_OPTIONS").unwrap_or_default();
    java_options.push_str(&format!(" -Djava.io.tmpdir={}", scratch.display()));
    let conf = |key: &str, value: &str| ["--conf".to_string(), format!("{key}={value}")];
    let mut command = Command::new(bin.join("spark-submit"));
    command
        .args([
            "--class",
            "org.apache.spark.sql.connect.service.SparkConnectServer",
        ])
        .args(["--name", "sdp-emulator"])
        .args(conf("spark.connect.grpc.binding.address", "127.0.0.1"))
        .args(conf("spark.connect.grpc.binding.port", &port.to_string()))
        .args(conf("spark.ui.enabled", "false"))
        .args(conf("spark.ui.showConsoleProgress", "false"))
        .args(conf("spark.sql.catalogImplementation", "hive"))
        .args(conf(
            "spark.sql.warehouse.dir",
            &dir.join("warehouse").display().to_string(),
        ))
        // Derby's metastore and log land in the working directory.
        .arg("spark-internal")
        .current_dir(dir)
        .env("PATH", std::env::join_paths(paths).unwrap_or(path))
        .env("PYSPARK_PYTHON", bin.join("python"))
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .env("JAVA_TOOL_OPTIONS", java_options.trim_start())
        .env_remove("SPARK_REMOTE")
        .env_remove("SPARK_CONNECT_MODE_ENABLED");
    command
}

/// The last lines of the server's log, for an error.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(15).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}
