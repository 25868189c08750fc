//! `cargo bench --bench offload`: the hand-off cost of one small CPU task (10 SHA-256
//! rounds) from an async task: inline, `spawn_blocking`, `spawn_blocking` behind a
//! semaphore, rayon with a oneshot reply, and `block_in_place`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use sync_async_bench::server::offload::CpuOffload;
use sync_async_bench::workload::{cpu, CpuSpec};

fn offload(c: &mut Criterion) {
    let spec = CpuSpec { rounds: 10 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap(),
    );
    let ways = [
        ("inline", CpuOffload::Inline),
        ("spawn_blocking", CpuOffload::SpawnBlocking),
        (
            "spawn_blocking_capped",
            CpuOffload::SpawnBlockingCapped(Arc::new(tokio::sync::Semaphore::new(2))),
        ),
        ("rayon_oneshot", CpuOffload::Rayon(pool)),
    ];
    let mut group = c.benchmark_group("offload");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(2));
    for (name, way) in ways {
        // Every way runs inside a spawned task, as a request handler would.
        group.bench_function(name, |b| {
            b.iter(|| {
                let way = way.clone();
                runtime
                    .block_on(runtime.spawn(async move { way.run(spec).await }))
                    .unwrap()
                    .unwrap()
            })
        });
    }
    group.bench_function("block_in_place", |b| {
        b.iter(|| {
            runtime
                .block_on(
                    runtime.spawn(async move { tokio::task::block_in_place(|| cpu::run(spec)) }),
                )
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, offload);
criterion_main!(benches);
