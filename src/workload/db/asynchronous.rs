//! The async styles' database client: `tokio-postgres` behind a `deadpool-postgres`
//! pool (the analogue of the articles' asyncpg pool), created once per server.
//! Statements are prepared once per pooled connection (`prepare_cached`); without a
//! pool each query connects, runs as one round trip (`query_typed`) and closes, the
//! same exchanges the blocking client makes.

use std::sync::Arc;
use std::time::Instant;

use deadpool_postgres::{Hook, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::future::join_all;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Row};

use super::{
    class_of_sqlstate, lookup_id, DbError, DbErrorClass, DbSpec, DbStats, Found, LOOKUP_SQL,
    SLOW_SQL,
};

/// The async styles' handle on the database: shared by every request.
#[derive(Clone)]
pub struct AsyncDb {
    inner: Arc<Inner>,
}

struct Inner {
    spec: DbSpec,
    /// The parsed URL, or why there is none.
    config: Result<tokio_postgres::Config, DbError>,
    /// The pool (when pooled and configured).
    pool: Option<Pool>,
    stats: Arc<DbStats>,
}

/// A `tokio_postgres` error, classed.
fn classify(error: &tokio_postgres::Error) -> DbError {
    if let Some(code) = error.code() {
        let detail = match error.as_db_error() {
            Some(db) => format!("{} (SQLSTATE {})", db.message(), code.code()),
            None => error.to_string(),
        };
        return DbError::failed(class_of_sqlstate(code.code()), detail);
    }
    let class = if error.is_closed() {
        DbErrorClass::ConnectionLost
    } else {
        DbErrorClass::Connect
    };
    DbError::failed(class, crate::workload::client::error_chain(error))
}

fn pool_error(error: deadpool_postgres::PoolError, spec: &DbSpec) -> DbError {
    use deadpool_postgres::{PoolError, TimeoutType};
    match error {
        PoolError::Timeout(TimeoutType::Wait) => DbError::failed(
            DbErrorClass::PoolTimeout,
            format!(
                "no pooled connection free within {:?} (pool of {})",
                spec.timeout, spec.pool
            ),
        ),
        PoolError::Timeout(_) => DbError::failed(
            DbErrorClass::Timeout,
            format!("connecting took over {:?}", spec.timeout),
        ),
        PoolError::Backend(error) => classify(&error),
        other => DbError::failed(DbErrorClass::Connect, other.to_string()),
    }
}

impl AsyncDb {
    /// A client for `spec`, counting into `stats`. Nothing connects until a query.
    /// Must be called inside a tokio runtime (the pool's timeouts use its timer).
    pub fn new(spec: &DbSpec, stats: Arc<DbStats>) -> Self {
        let config = match &spec.url {
            Some(url) => url
                .parse::<tokio_postgres::Config>()
                .map(|mut config| {
                    config.connect_timeout(spec.timeout);
                    config.application_name("sabench-async");
                    config
                })
                .map_err(|e| DbError::BadUrl(format!("{url}: {e}"))),
            None => Err(DbError::NotConfigured),
        };
        let pool = match (&config, spec.pooled) {
            (Ok(config), true) => build_pool(config.clone(), spec, stats.clone()),
            _ => None,
        };
        Self {
            inner: Arc::new(Inner {
                spec: spec.clone(),
                config,
                pool,
                stats,
            }),
        }
    }

    /// Its counters.
    pub fn stats(&self) -> &DbStats {
        &self.inner.stats
    }

    /// How long `/db-slow` holds its connection.
    pub fn hold(&self) -> std::time::Duration {
        self.inner.spec.hold
    }

    /// `/db`: K lookups, one after another.
    pub async fn lookups(&self) -> Result<Vec<Found>, DbError> {
        let mut rows = Vec::with_capacity(self.inner.spec.lookups as usize);
        for k in 0..self.inner.spec.lookups {
            rows.push(self.inner.lookup(k).await?);
        }
        Ok(rows)
    }

    /// `/db-slow`: one query holding its connection for the spec's hold time.
    pub async fn slow(&self) -> Result<(), DbError> {
        let seconds = self.inner.spec.hold.as_secs_f64();
        self.inner
            .run(SLOW_SQL, &[(&seconds, Type::FLOAT8)])
            .await
            .map(drop)
    }

    /// `/db-fanout`: N lookups at once, each on its own connection, in lookup order;
    /// the first failure (by index) fails the request.
    pub async fn fanout(&self) -> Result<Vec<Found>, DbError> {
        let lookups = (0..self.inner.spec.fanout).map(|k| self.inner.lookup(k));
        join_all(lookups).await.into_iter().collect()
    }
}

fn build_pool(config: tokio_postgres::Config, spec: &DbSpec, stats: Arc<DbStats>) -> Option<Pool> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(spec.pool.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(spec.timeout))
        .create_timeout(Some(spec.timeout))
        .post_create(Hook::sync_fn(move |_, _| {
            stats.opened();
            Ok(())
        }))
        .build()
        .ok()
}

impl Inner {
    async fn lookup(&self, k: u32) -> Result<Found, DbError> {
        let id = lookup_id(k);
        let rows = self.run(LOOKUP_SQL, &[(&id, Type::INT4)]).await?;
        Ok(rows
            .first()
            .map(|row| (row.get::<_, String>(0), row.get::<_, String>(1))))
    }

    /// One statement, pooled (prepared once per connection) or on a fresh connection,
    /// bounded by the spec's timeout and counted in the stats.
    async fn run(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, DbError> {
        let timeout = self.spec.timeout;
        let outcome = match tokio::time::timeout(timeout, self.exchange(sql, params)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(DbError::failed(
                DbErrorClass::Timeout,
                format!("the query took over {timeout:?}"),
            )),
        };
        match &outcome {
            Ok(_) => self.stats.queried(),
            Err(error) => self.stats.failed(error.class()),
        }
        outcome
    }

    async fn exchange(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, DbError> {
        let config = self.config.as_ref().map_err(Clone::clone)?;
        if let Some(pool) = &self.pool {
            let started = Instant::now();
            let client = pool.get().await.map_err(|e| pool_error(e, &self.spec))?;
            self.stats.waited(started.elapsed());
            let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
            let statement = client
                .prepare_typed_cached(sql, &types)
                .await
                .map_err(|e| classify(&e))?;
            let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(v, _)| *v).collect();
            return client
                .query(&statement, &values)
                .await
                .map_err(|e| classify(&e));
        }
        let (client, connection) = config.connect(NoTls).await.map_err(|e| classify(&e))?;
        self.stats.opened();
        tokio::spawn(connection);
        let rows = client
            .query_typed(sql, params)
            .await
            .map_err(|e| classify(&e));
        drop(client); // closes the connection (Terminate)
        rows
    }
}
