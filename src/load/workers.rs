//! The worker threads of one process, whichever run they belong to (a local run, a
//! child of a split run, a shard of a run over many machines): started on one plan,
//! their messages handed to the caller as they come, then joined.

use std::ops::Range;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use super::engine::{self, WorkerMessage};
use super::plan::Plan;
use super::LoadError;

/// Runs workers `indices` of `workers` in all on `plan` (a worker's connections are its
/// share of the plan's, numbered over every worker), hands their messages to `consume`
/// until the last worker ends, then joins them. Returns what `consume` made and the
/// messages of any worker that panicked (the run is then INVALID, never quietly short).
pub(super) fn run<T, E: From<LoadError>>(
    plan: &Arc<Plan>,
    indices: Range<usize>,
    workers: usize,
    consume: impl FnOnce(mpsc::Receiver<WorkerMessage>) -> Result<T, E>,
) -> Result<(T, Vec<String>), E> {
    let (sender, receiver) = mpsc::channel();
    let handles = spawn(plan, indices, workers, &sender)?;
    drop(sender);
    let made = consume(receiver)?;
    Ok((made, join(handles)?))
}

fn spawn(
    plan: &Arc<Plan>,
    indices: Range<usize>,
    workers: usize,
    sender: &mpsc::Sender<WorkerMessage>,
) -> Result<Vec<JoinHandle<std::io::Result<()>>>, LoadError> {
    let total = plan.connections;
    let mut handles = Vec::new();
    for index in indices {
        let connections = total / workers + usize::from(index < total % workers);
        let plan = plan.clone();
        let sender = sender.clone();
        let handle = std::thread::Builder::new()
            .name(format!("load-{index}"))
            .spawn(move || engine::run_worker(plan, index, workers, connections, sender))
            .map_err(LoadError::Start)?;
        handles.push(handle);
    }
    Ok(handles)
}

/// Waits for the worker threads: the first that could not run says why; the messages
/// of those that panicked are returned.
fn join(handles: Vec<JoinHandle<std::io::Result<()>>>) -> Result<Vec<String>, LoadError> {
    let mut panics = Vec::new();
    for handle in handles {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(LoadError::Start(error)),
            Err(payload) => panics.push(engine::panic_message(&*payload)),
        }
    }
    Ok(panics)
}
