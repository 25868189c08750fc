//! `cargo bench --bench fanout`: the 40-source pipeline (claims C3, C12) against an
//! in-process upstream answering in 2 ms: sequential blocking, a thread pool, async
//! join, async with a semaphore of 10, and sync code with `block_on` around the fetch.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use sync_async_bench::upstream::{self, UpstreamConfig};
use sync_async_bench::workload::thread_pool::ThreadPool;
use sync_async_bench::workload::{
    fanout, AsyncUpstream, BlockingUpstream, ClientOptions, FanoutPolicy, FanoutSpec,
};

const SOURCES: u32 = 40;

fn spec(limit: Option<u32>) -> FanoutSpec {
    FanoutSpec {
        calls: SOURCES,
        limit,
        policy: FanoutPolicy::WaitAll,
    }
}

fn pipeline(c: &mut Criterion) {
    let upstream = upstream::spawn(UpstreamConfig {
        latency: Duration::from_millis(2),
        ..UpstreamConfig::default()
    })
    .unwrap();
    let options = ClientOptions::plain(Some(upstream.base_url()), Duration::from_secs(10));
    let blocking = BlockingUpstream::new(&options, 64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime.block_on(async { AsyncUpstream::new(&options) });
    let mut group = c.benchmark_group("fanout_40_sources_2ms");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    let (one, eight) = (ThreadPool::new(1, "bench-1"), ThreadPool::new(8, "bench-8"));
    group.bench_function("sequential_blocking", |b| {
        b.iter(|| fanout::blocking(&spec(Some(1)), &blocking, &one).unwrap())
    });
    group.bench_function("thread_pool_8", |b| {
        b.iter(|| fanout::blocking(&spec(Some(8)), &blocking, &eight).unwrap())
    });
    group.bench_function("async_join", |b| {
        b.iter(|| {
            runtime
                .block_on(fanout::asynchronous(&spec(None), &client))
                .unwrap()
        })
    });
    group.bench_function("async_semaphore_10", |b| {
        b.iter(|| {
            runtime
                .block_on(fanout::asynchronous(&spec(Some(10)), &client))
                .unwrap()
        })
    });
    group.bench_function("sync_block_on_fetch_section", |b| {
        b.iter(|| {
            let section = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            section
                .block_on(async {
                    let client = AsyncUpstream::new(&options);
                    fanout::asynchronous(&spec(None), &client).await
                })
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
