//! `[database]`: the throwaway PostgreSQL a scenario runs against, its pgbench
//! baseline, and the size of a database pool.

use super::*;

/// The PostgreSQL the database workloads query (`[database]`): a throwaway cluster
/// `sabench` starts and removes (the default), or an existing server (`url`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSpec {
    /// An existing server (`postgres://user:password@127.0.0.1:5432/db`) with the
    /// seeded `users` table, instead of a throwaway one; `--database-url` and
    /// `DATABASE_URL` override it.
    #[serde(default)]
    pub url: Option<String>,
    /// The throwaway cluster's `max_connections`.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: u32,
    /// The throwaway cluster's `shared_buffers`.
    #[serde(default = "defaults::shared_buffers")]
    pub shared_buffers: String,
    /// Rows seeded into `users`.
    #[serde(default = "defaults::seed_rows")]
    pub seed_rows: u32,
    /// Run pgbench with the same query on the same server, pooled and connecting per
    /// transaction, as the ceiling the styles are compared with.
    #[serde(default)]
    pub pgbench: Option<PgbenchSpec>,
}

impl Default for DatabaseSpec {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: defaults::max_connections(),
            shared_buffers: defaults::shared_buffers(),
            seed_rows: defaults::seed_rows(),
            pgbench: None,
        }
    }
}

/// pgbench's reference run (`[database.pgbench]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgbenchSpec {
    /// Client connections (`-c`).
    #[serde(default = "defaults::pgbench_clients")]
    pub clients: u32,
    /// How long each of its runs lasts (`-T`, whole seconds).
    #[serde(default = "defaults::duration", with = "humantime_serde")]
    pub duration: Duration,
}

/// A database pool size in a scenario: a number of connections or `"unbounded"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PoolSize {
    /// At most this many connections.
    Connections(u32),
    /// `"unbounded"` (any other word is refused when the scenario is checked).
    Word(String),
}

impl PoolSize {
    /// The size the server is given, or None for a word other than `unbounded`.
    pub fn size(&self) -> Option<usize> {
        match self {
            PoolSize::Connections(n) if *n >= 1 => Some(*n as usize),
            PoolSize::Connections(_) => None,
            PoolSize::Word(word) if word == "unbounded" => {
                Some(crate::workload::db::UNBOUNDED_POOL)
            }
            PoolSize::Word(_) => None,
        }
    }
}
