//! The hybrid style: the async server, but CPU work leaves the runtime — to tokio's
//! blocking pool (`spawn_blocking`, the default) or to a rayon pool with a oneshot reply.

use std::future::Future;
use std::sync::Arc;

use super::offload::CpuOffload;
use super::{asynchronous, Offload, ServerConfig};

/// Serves the hybrid style on `listener` until `shutdown` completes.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let offload = match config.style.offload {
        Offload::SpawnBlocking => CpuOffload::SpawnBlocking,
        Offload::SpawnBlockingCapped => {
            let permits = crate::sys::affinity::available_cpus();
            CpuOffload::SpawnBlockingCapped(Arc::new(tokio::sync::Semaphore::new(permits)))
        }
        Offload::Rayon => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(config.style.rayon_threads.max(1))
                .thread_name(|i| format!("rayon-{i}"))
                .build()
                .map_err(std::io::Error::other)?;
            CpuOffload::Rayon(Arc::new(pool))
        }
    };
    asynchronous::serve_with_offload(listener, config, offload, shutdown).await
}
