//! SIGINT (Ctrl-C) and SIGTERM (what orchestrators send) both mean: stop accepting, finish
//! what is in flight, exit 0.

use tokio::signal::unix::{SignalKind, signal};

/// Handlers are installed here, before the server announces itself, so a signal sent right
/// after the "listening" line is never missed.
pub struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The name of the next signal received.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
