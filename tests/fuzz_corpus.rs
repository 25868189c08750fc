//! The fuzz targets' properties (`sync_async_bench::fuzzing`) on the checked-in corpus
//! (`fuzz/corpus/<target>/`, plus the shipped scenarios) and on deterministic
//! mutations of it: bit flips, byte inserts and deletes, truncations and splices. CI
//! runs this without a fuzzer; `cargo fuzz run <target>` (see fuzz/README.md) goes
//! further and adds what it finds to the same corpus.

use std::path::{Path, PathBuf};

use sync_async_bench::fuzzing;

/// A small deterministic generator (xorshift64*), so every run tries the same inputs.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// One to four edits of `seed`, some splicing in bytes of `other`.
    fn mutate(&mut self, seed: &[u8], other: &[u8]) -> Vec<u8> {
        let mut data = seed.to_vec();
        for _ in 0..=self.below(4) {
            let at = self.below(data.len() + 1);
            match self.below(6) {
                0 if !data.is_empty() => {
                    let i = self.below(data.len());
                    data[i] ^= 1 << self.below(8);
                }
                1 => data.insert(at, self.next() as u8),
                2 if at < data.len() => {
                    data.remove(at);
                }
                3 => data.truncate(at),
                4 => {
                    let from = self.below(other.len() + 1);
                    let to = (from + self.below(32)).min(other.len());
                    data.splice(at..at, other[from..to].iter().copied());
                }
                _ => {
                    // Characters the parsers care about.
                    let special = [b'\r', b'\n', b':', b' ', b'0', b'9', b'f', b'"', b'[', b'='];
                    data.insert(at, special[self.below(special.len())]);
                }
            }
        }
        data
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = files_in(&root.join("fuzz/corpus").join(target));
    if target == "scenario_file" {
        files.extend(files_in(&root.join("scenarios")));
    }
    assert!(!files.is_empty(), "no corpus for {target}");
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// Every seed as it is, then `per_seed` mutations of each.
fn replay(target: &str, per_seed: usize, property: fn(&[u8])) {
    let seeds = corpus(target);
    let mut mutator = Mutator(0x005e_ed0f_5ab3_4c11);
    for seed in &seeds {
        property(seed);
    }
    for (i, seed) in seeds.iter().enumerate() {
        let other = &seeds[(i + 1) % seeds.len()];
        for _ in 0..per_seed {
            let input = mutator.mutate(seed, other);
            let outcome = std::panic::catch_unwind(|| property(&input));
            assert!(
                outcome.is_ok(),
                "{target}: the property failed on {:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
}

#[test]
fn request_heads() {
    replay("request_head", 3_000, fuzzing::request_head);
}

#[test]
fn responses() {
    replay("response", 3_000, fuzzing::response);
}

#[test]
fn scenario_files() {
    replay("scenario_file", 400, fuzzing::scenario_file);
}
