//! SIGINT and SIGTERM: the first one asks for a graceful stop, the second for an
//! immediate one. The exit code of the first (130 or 143) is remembered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use super::exit;

/// Installs the handlers now (before any task starts), then calls `first` on the
/// first signal and `second` on the next. Must be called inside a tokio runtime.
pub fn watch(
    signalled: Arc<AtomicU8>,
    first: impl FnOnce() + Send + 'static,
    second: impl FnOnce() + Send + 'static,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    tokio::spawn(async move {
        let mut first = Some(first);
        let mut second = Some(second);
        loop {
            let code = tokio::select! {
                _ = int.recv() => exit::SIGINT,
                _ = term.recv() => exit::SIGTERM,
            };
            if let Some(f) = first.take() {
                signalled.store(code, Ordering::SeqCst);
                f();
            } else if let Some(f) = second.take() {
                f();
            }
        }
    });
}
