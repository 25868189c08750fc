//! The properties the fuzz targets (`fuzz/`) check on the parsers that real input
//! reaches: the blocking server's request heads, the load generator's responses, and
//! scenario files. The same functions replay the checked-in corpus, and deterministic
//! mutations of it, in `cargo test` (`tests/fuzz_corpus.rs`), so CI exercises them
//! without a fuzzer. Each panics when a property fails; none may panic otherwise.

use crate::load::client::response_length;
use crate::scenario::{self, plan};
use crate::server::wire::{self, Parsed};

/// The head limit the request-head property uses (the servers' default).
const MAX_HEAD: usize = 64 * 1024;

/// A request head: a complete head lies within the buffer and the limit, and parses
/// the same from exactly its own bytes; a partial one is within the limit; a refusal
/// is a 4xx.
pub fn request_head(data: &[u8]) {
    match wire::parse(data, MAX_HEAD) {
        Parsed::Complete(head) => {
            assert!(head.head_len <= data.len() && head.head_len <= MAX_HEAD);
            assert_eq!(
                wire::parse(&data[..head.head_len], MAX_HEAD),
                Parsed::Complete(head)
            );
        }
        Parsed::Partial => assert!(data.len() <= MAX_HEAD),
        Parsed::Invalid { status, .. } => assert!((400..500).contains(&status)),
    }
}

/// A response: a complete one lies within the buffer, and its own bytes alone are the
/// same complete response (nothing after it changes where it ends).
pub fn response(data: &[u8]) {
    if let Ok(Some((head, length))) = response_length(data) {
        assert!(length <= data.len());
        let alone = response_length(&data[..length]);
        assert!(
            matches!(alone, Ok(Some((h, n))) if h == head && n == length),
            "{length} bytes frame differently alone: {alone:?}"
        );
    }
}

/// A scenario file: parsing never panics, an error names the file, and a scenario
/// that parses plans at most [`plan::MAX_CELLS`] cells, each with its own id.
pub fn scenario_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match scenario::parse(text, "fuzz.toml") {
        Ok(parsed) => {
            let planned = plan::count(&parsed);
            assert!(planned <= plan::MAX_CELLS);
            let cells = plan::cells(&parsed);
            assert_eq!(cells.len() as u128, planned);
            let mut ids: Vec<&str> = cells.iter().map(|c| c.id.as_str()).collect();
            ids.sort_unstable();
            let before = ids.len();
            ids.dedup();
            assert_eq!(ids.len(), before, "two cells share an id");
        }
        Err(error) => assert!(error.to_string().contains("fuzz.toml"), "{error}"),
    }
}
