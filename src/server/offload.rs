//! Where an async server runs CPU work: inline on the runtime worker (the naive async
//! the articles warn about), on tokio's blocking pool, or on a rayon pool.

use std::sync::Arc;

use crate::workload::{cpu, CpuSpec, WorkloadError};

/// How CPU work is executed by an async server.
#[derive(Clone)]
pub enum CpuOffload {
    /// On the runtime worker that polls the request (blocks that worker meanwhile).
    Inline,
    /// `tokio::task::spawn_blocking`.
    SpawnBlocking,
    /// `spawn_blocking`, with at most as many tasks at once as the semaphore has permits.
    SpawnBlockingCapped(Arc<tokio::sync::Semaphore>),
    /// A rayon pool; the result comes back through a oneshot channel.
    Rayon(Arc<rayon::ThreadPool>),
}

impl CpuOffload {
    /// Runs the `cpu` kernel and returns its body.
    pub async fn run(&self, spec: CpuSpec) -> Result<String, WorkloadError> {
        match self {
            CpuOffload::Inline => Ok(cpu::run(spec)),
            CpuOffload::SpawnBlocking => tokio::task::spawn_blocking(move || cpu::run(spec))
                .await
                .map_err(|e| WorkloadError::Offload(e.to_string())),
            CpuOffload::SpawnBlockingCapped(permits) => {
                let _permit = permits
                    .acquire()
                    .await
                    .map_err(|e| WorkloadError::Offload(e.to_string()))?;
                tokio::task::spawn_blocking(move || cpu::run(spec))
                    .await
                    .map_err(|e| WorkloadError::Offload(e.to_string()))
            }
            CpuOffload::Rayon(pool) => {
                let (reply, answer) = tokio::sync::oneshot::channel();
                pool.spawn(move || {
                    let _ = reply.send(cpu::run(spec));
                });
                answer
                    .await
                    .map_err(|_| WorkloadError::Offload("rayon task dropped its reply".into()))
            }
        }
    }
}
