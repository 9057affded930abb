//! Work no one waits on at once — rendering an export — runs on a thread of its own at
//! a lower scheduling priority (niceness 10 on Linux). On a busy machine the runtime's
//! workers, which carry live strokes, get the cores first and the export takes what
//! they leave; on an idle one it runs at full speed.

use tokio::sync::oneshot;

/// Why background work gave no result.
#[derive(Debug, thiserror::Error)]
pub enum BackgroundError {
    /// No thread could be started.
    #[error("cannot start a background thread: {0}")]
    Spawn(#[from] std::io::Error),
    /// The work panicked.
    #[error("the background work failed")]
    Panicked,
}

/// The priority background threads run at: about niceness 10 (the crate maps 0..=99
/// onto niceness 19..=-20).
const BACKGROUND_PRIORITY: u8 = 23;

/// Runs `work` on a new low-priority thread; its result when done.
pub async fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BackgroundError> {
    let (done, result) = oneshot::channel();
    std::thread::Builder::new()
        .name("canopy-background".into())
        .spawn(move || {
            lower_priority();
            let _ = done.send(work());
        })?;
    result.await.map_err(|_| BackgroundError::Panicked)
}

/// Lowers the calling thread's priority; if the system refuses, it runs as it is.
fn lower_priority() {
    use thread_priority::{set_current_thread_priority, ThreadPriority, ThreadPriorityValue};
    let lowered = ThreadPriorityValue::try_from(BACKGROUND_PRIORITY)
        .map_err(|e| e.to_string())
        .and_then(|value| {
            set_current_thread_priority(ThreadPriority::Crossplatform(value))
                .map_err(|e| format!("{e:?}"))
        });
    if let Err(error) = lowered {
        tracing::debug!(%error, "background work runs at normal priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The thread's niceness as the kernel reports it (`/proc/thread-self/stat`,
    /// field 19).
    fn niceness() -> Option<i64> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        let (_, after_name) = stat.rsplit_once(") ")?;
        after_name.split_whitespace().nth(16)?.parse().ok()
    }

    #[tokio::test]
    async fn background_work_runs_at_a_lower_priority_and_returns_its_result() {
        let here = niceness().expect("a thread's niceness in /proc");
        let (answer, there) = run(|| (6 * 7, niceness())).await.unwrap();
        assert_eq!(answer, 42);
        let there = there.expect("the background thread's niceness");
        assert!(
            there > here,
            "niceness {there} in the background, {here} here"
        );
    }

    #[tokio::test]
    async fn a_panic_in_background_work_is_an_error() {
        let result: Result<(), _> = run(|| panic!("on purpose")).await;
        assert!(matches!(result, Err(BackgroundError::Panicked)));
    }
}
