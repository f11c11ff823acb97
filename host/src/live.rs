//! The guest's stderr on a terminal: its progress lines (`sdp-agent: [  12.3s] …`) become one
//! live line under a spinner, rewritten in place while an update moves through its states;
//! lines that close a step (a final state, a repair round) and every other line stay on the
//! screen. Off a terminal (a job's log, a test, a pipe) stderr passes through unchanged, so the
//! log reads as a timeline.

use bytes::BytesMut;
use indicatif::{ProgressBar, ProgressStyle};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// What starts a progress line (guest `agent/progress.rs`).
const PROGRESS_PREFIX: &str = "sdp-agent: [";
/// Update states after which an update changes no more (guest `databricks/updates.rs`).
const FINAL_STATES: [&str; 3] = ["COMPLETED", "FAILED", "CANCELED"];

/// How one line of the guest's stderr is shown.
#[derive(Debug, PartialEq, Eq)]
enum Shown<'a> {
    /// A passing state: replaces the live line.
    Live(&'a str),
    /// Printed above the live line and kept.
    Kept(&'a str),
}

/// Live: a progress line ending in `: STATE` of a state that passes (`WAITING_FOR_RESOURCES`,
/// `RUNNING`, …). Everything else (a final state, a repair round, a start, any other line) is kept.
fn classify(line: &str) -> Shown<'_> {
    let state = line
        .strip_prefix(PROGRESS_PREFIX)
        .and_then(|rest| rest.rsplit_once(": "))
        .map(|(_, state)| state);
    match state {
        Some(state)
            if !state.is_empty()
                && state.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                && !FINAL_STATES.contains(&state) =>
        {
            Shown::Live(line)
        }
        _ => Shown::Kept(line),
    }
}

/// The live line of one call. Cheap to clone (the bar is shared).
#[derive(Clone)]
pub struct LiveStderr {
    bar: ProgressBar,
}

impl LiveStderr {
    /// A spinner on stderr (indicatif draws nothing when stderr is not a terminal).
    pub fn new() -> Self {
        let bar = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar }
    }

    /// Removes the live line (the kept lines stay).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn show(&self, line: &str) {
        match classify(line) {
            Shown::Live(text) => self.bar.set_message(text.to_string()),
            Shown::Kept(text) => self.bar.println(text),
        }
    }
}

impl IsTerminal for LiveStderr {
    fn is_terminal(&self) -> bool {
        true
    }
}

impl StdoutStream for LiveStderr {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            live: self.clone(),
            pending: BytesMut::new(),
        })
    }
}

/// Cuts what the guest writes into lines for [`LiveStderr::show`].
struct LineWriter {
    live: LiveStderr,
    /// The start of a line not finished yet.
    pending: BytesMut,
}

impl LineWriter {
    fn take_lines(&mut self) {
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line = self.pending.split_to(end + 1);
            let text = String::from_utf8_lossy(&line[..end]);
            self.live.show(text.trim_end_matches('\r'));
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.pending.extend_from_slice(buf);
        self.take_lines();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.pending.is_empty() {
            let rest = self.pending.split();
            self.live.show(&String::from_utf8_lossy(&rest));
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn passing_states_are_live_and_closing_lines_are_kept() {
        let live = "sdp-agent: [    0.4s] validation update u1: RUNNING";
        assert_eq!(classify(live), Shown::Live(live));
        for kept in [
            "sdp-agent: [    0.9s] validation update u1: FAILED",
            "sdp-agent: [    1.0s] repair round 1: asking the model to fix 1 error(s)",
            "sdp-agent: [    1.1s] started update u2",
            "sdp-agent: [    2.0s] update u2: COMPLETED",
            "sdp-agent: runs/get for 7 failed",
            "a line of the guest's own",
        ] {
            assert_eq!(classify(kept), Shown::Kept(kept));
        }
    }

    #[tokio::test]
    async fn lines_are_cut_where_they_end_whatever_the_writes() {
        let live = LiveStderr {
            bar: ProgressBar::hidden(),
        };
        let mut writer = Box::into_pin(live.async_stream());
        let text = "sdp-agent: [    0.1s] update u: WAIT";
        writer.write_all(&text.as_bytes()[..10]).await.unwrap();
        assert_eq!(live.bar.message(), "", "half a line shows nothing");
        writer.write_all(&text.as_bytes()[10..]).await.unwrap();
        writer
            .write_all(b"ING\r\nsdp-agent: [    0.2s] update u: RUNNING\nhalf")
            .await
            .unwrap();
        assert_eq!(
            live.bar.message(),
            "sdp-agent: [    0.2s] update u: RUNNING"
        );
        writer.shutdown().await.unwrap();
    }
}
