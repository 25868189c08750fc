//! Fuzzes `sync_async_bench::fuzzing::request_head` (see that function for the properties).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sync_async_bench::fuzzing::request_head(data);
});
