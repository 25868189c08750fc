//! The blocking style's database client: PostgreSQL's wire protocol spoken over a plain
//! `std` socket (TCP or unix), with the message encoding of `postgres-protocol` (the
//! same one `tokio-postgres` uses), and a pool that is a mutex and a condition
//! variable. No async runtime and no helper thread: a query blocks the calling thread
//! and nothing else, which is the model the blocking style stands for.
//!
//! It supports what a benchmark needs: trust, cleartext, MD5 and SCRAM-SHA-256 log-in,
//! statements prepared once per connection (the first use sends Parse with the first
//! execution, as one round trip), text results, and errors classed by SQLSTATE. Its
//! pool ([`super::pool`]) serves waiting threads first come, first served.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::{backend::Message, frontend};
use postgres_protocol::IsNull;

use super::pool::{FairPool, Grant};
use super::{
    class_of_sqlstate, lookup_id, DbError, DbErrorClass, DbSpec, DbStats, Found, LOOKUP_SQL,
    SLOW_SQL,
};
use crate::workload::thread_pool::ThreadPool;

/// PostgreSQL's type ids for the parameters we send.
const INT4_OID: u32 = 23;
const FLOAT8_OID: u32 = 701;

/// Where and as whom to connect, read from a `postgres://` URL.
#[derive(Debug, Clone)]
pub struct Target {
    address: Address,
    user: String,
    password: Option<Vec<u8>>,
    dbname: String,
}

#[derive(Debug, Clone)]
enum Address {
    Tcp(String, u16),
    Unix(PathBuf),
}

impl Target {
    /// Parses `url` (the forms `tokio-postgres` accepts: URL or `key=value`).
    pub fn parse(url: &str) -> Result<Self, DbError> {
        use tokio_postgres::config::Host;
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| DbError::BadUrl(format!("{url}: {e}")))?;
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let address = match config.get_hosts().first() {
            Some(Host::Tcp(host)) => Address::Tcp(host.clone(), port),
            Some(Host::Unix(folder)) => Address::Unix(folder.join(format!(".s.PGSQL.{port}"))),
            None => Address::Tcp("127.0.0.1".into(), port),
        };
        let user = config
            .get_user()
            .ok_or_else(|| DbError::BadUrl(format!("{url}: no user")))?
            .to_string();
        Ok(Self {
            dbname: config.get_dbname().unwrap_or(&user).to_string(),
            password: config.get_password().map(<[u8]>::to_vec),
            address,
            user,
        })
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn open(address: &Address, timeout: Duration) -> std::io::Result<Self> {
        let stream = match address {
            Address::Tcp(host, port) => {
                let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), *port))?
                    .next()
                    .ok_or_else(|| std::io::Error::other(format!("{host} has no address")))?;
                let stream = TcpStream::connect_timeout(&addr, timeout)?;
                stream.set_nodelay(true)?;
                Stream::Tcp(stream)
            }
            Address::Unix(path) => Stream::Unix(UnixStream::connect(path)?),
        };
        stream.set_timeout(Some(timeout))?;
        Ok(stream)
    }

    fn set_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => {
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)
            }
            Stream::Unix(s) => {
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A parameter of a prepared statement.
#[derive(Debug, Clone, Copy)]
pub enum Param {
    /// `int4`.
    Int(i32),
    /// `float8`.
    Float(f64),
}

impl Param {
    fn oid(self) -> u32 {
        match self {
            Param::Int(_) => INT4_OID,
            Param::Float(_) => FLOAT8_OID,
        }
    }
}

/// One logged-in connection.
pub struct Connection {
    stream: Stream,
    read: BytesMut,
    write: BytesMut,
    /// The statements prepared on it, by SQL text (their names are `s0`, `s1`, ...).
    prepared: Vec<&'static str>,
    /// Whether it broke mid-exchange (then it is never reused).
    broken: bool,
}

fn lost(error: std::io::Error) -> DbError {
    match error.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            DbError::failed(DbErrorClass::Timeout, error.to_string())
        }
        _ => DbError::failed(DbErrorClass::ConnectionLost, error.to_string()),
    }
}

fn encoding(error: impl std::fmt::Display) -> DbError {
    DbError::failed(DbErrorClass::Query, format!("encoding a message: {error}"))
}

/// The error an `ErrorResponse` carries, classed by its SQLSTATE.
fn database_error(body: &postgres_protocol::message::backend::ErrorResponseBody) -> DbError {
    let (mut code, mut message) = (String::new(), String::new());
    let mut fields = body.fields();
    while let Ok(Some(field)) = fields.next() {
        let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
        match field.type_() {
            b'C' => code = value,
            b'M' => message = value,
            _ => {}
        }
    }
    DbError::failed(
        class_of_sqlstate(&code),
        format!("{message} (SQLSTATE {code})"),
    )
}

impl Connection {
    /// Connects and logs in to `target`, each step bounded by `timeout`.
    pub fn connect(target: &Target, timeout: Duration) -> Result<Self, DbError> {
        let stream = Stream::open(&target.address, timeout).map_err(|e| {
            let class = match e.kind() {
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    DbErrorClass::Timeout
                }
                _ => DbErrorClass::Connect,
            };
            DbError::failed(class, format!("connecting to {:?}: {e}", target.address))
        })?;
        let mut connection = Self {
            stream,
            read: BytesMut::with_capacity(8 * 1024),
            write: BytesMut::with_capacity(1024),
            prepared: Vec::new(),
            broken: false,
        };
        connection.log_in(target).map_err(|e| match e {
            DbError::Failed {
                class: DbErrorClass::ConnectionLost,
                detail,
            } => DbError::failed(DbErrorClass::Connect, format!("logging in: {detail}")),
            other => other,
        })?;
        Ok(connection)
    }

    fn log_in(&mut self, target: &Target) -> Result<(), DbError> {
        let parameters = [
            ("user", target.user.as_str()),
            ("database", target.dbname.as_str()),
            ("client_encoding", "UTF8"),
            ("application_name", "sabench-blocking"),
        ];
        frontend::startup_message(parameters, &mut self.write).map_err(encoding)?;
        self.send()?;
        let password = || {
            target.password.clone().ok_or_else(|| {
                DbError::failed(
                    DbErrorClass::Connect,
                    "the server asks for a password and the URL has none",
                )
            })
        };
        let mut scram: Option<ScramSha256> = None;
        loop {
            match self.receive()? {
                Message::AuthenticationOk => {}
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(&password()?, &mut self.write).map_err(encoding)?;
                    self.send()?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hashed = postgres_protocol::authentication::md5_hash(
                        target.user.as_bytes(),
                        &password()?,
                        body.salt(),
                    );
                    frontend::password_message(hashed.as_bytes(), &mut self.write)
                        .map_err(encoding)?;
                    self.send()?;
                }
                Message::AuthenticationSasl(_) => {
                    let state = ScramSha256::new(&password()?, ChannelBinding::unsupported());
                    frontend::sasl_initial_response(
                        SCRAM_SHA_256,
                        state.message(),
                        &mut self.write,
                    )
                    .map_err(encoding)?;
                    self.send()?;
                    scram = Some(state);
                }
                Message::AuthenticationSaslContinue(body) => {
                    let state = scram
                        .as_mut()
                        .ok_or_else(|| protocol("SASL out of order"))?;
                    state
                        .update(body.data())
                        .map_err(|e| protocol(&e.to_string()))?;
                    frontend::sasl_response(state.message(), &mut self.write).map_err(encoding)?;
                    self.send()?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    let state = scram
                        .as_mut()
                        .ok_or_else(|| protocol("SASL out of order"))?;
                    state
                        .finish(body.data())
                        .map_err(|e| protocol(&e.to_string()))?;
                }
                Message::ErrorResponse(body) => return Err(database_error(&body)),
                Message::ReadyForQuery(_) => return Ok(()),
                // ParameterStatus, BackendKeyData, notices: nothing to do.
                _ => {}
            }
        }
    }

    /// Runs the statement `sql` (prepared on first use) with `params`, returning its
    /// rows with every column as text (None for SQL NULL).
    pub fn query(
        &mut self,
        sql: &'static str,
        params: &[Param],
    ) -> Result<Vec<Vec<Option<String>>>, DbError> {
        let result = self.exchange(sql, params);
        if let Err(DbError::Failed { class, .. }) = &result {
            if matches!(class, DbErrorClass::ConnectionLost | DbErrorClass::Timeout) {
                self.broken = true;
            }
        }
        result
    }

    fn exchange(
        &mut self,
        sql: &'static str,
        params: &[Param],
    ) -> Result<Vec<Vec<Option<String>>>, DbError> {
        let index = match self.prepared.iter().position(|s| *s == sql) {
            Some(index) => index,
            None => {
                let name = format!("s{}", self.prepared.len());
                frontend::parse(&name, sql, params.iter().map(|p| p.oid()), &mut self.write)
                    .map_err(encoding)?;
                self.prepared.push(sql);
                self.prepared.len() - 1
            }
        };
        let name = format!("s{index}");
        frontend::bind(
            "",
            &name,
            Some(1), // every parameter in binary
            params.iter().copied(),
            |param, buf| {
                match param {
                    Param::Int(v) => buf.put_i32(v),
                    Param::Float(v) => buf.put_f64(v),
                }
                Ok(IsNull::No)
            },
            Some(0), // every result column as text
            &mut self.write,
        )
        .map_err(|e| match e {
            frontend::BindError::Conversion(e) => encoding(e),
            frontend::BindError::Serialization(e) => encoding(e),
        })?;
        frontend::execute("", 0, &mut self.write).map_err(encoding)?;
        frontend::sync(&mut self.write);
        self.send()?;
        let mut rows = Vec::new();
        let mut failure = None;
        loop {
            match self.receive()? {
                Message::DataRow(body) => {
                    let buffer = body.buffer();
                    let columns: Vec<Option<String>> = body
                        .ranges()
                        .map(|range| {
                            Ok(range.map(|r| String::from_utf8_lossy(&buffer[r]).into_owned()))
                        })
                        .collect()
                        .map_err(|e| protocol(&e.to_string()))?;
                    rows.push(columns);
                }
                Message::ErrorResponse(body) => {
                    failure = Some(database_error(&body));
                    // A failed Parse leaves nothing prepared under this name.
                    if self.prepared.len() == index + 1 && rows.is_empty() {
                        self.prepared.truncate(index);
                    }
                }
                Message::ReadyForQuery(_) => break,
                _ => {} // ParseComplete, BindComplete, CommandComplete, notices
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(rows),
        }
    }

    fn send(&mut self) -> Result<(), DbError> {
        let result = self.stream.write_all(&self.write);
        self.write.clear();
        result.map_err(lost)
    }

    fn receive(&mut self) -> Result<Message, DbError> {
        loop {
            if let Some(message) =
                Message::parse(&mut self.read).map_err(|e| protocol(&e.to_string()))?
            {
                return Ok(message);
            }
            let mut chunk = [0u8; 8 * 1024];
            let n = self.stream.read(&mut chunk).map_err(lost)?;
            if n == 0 {
                return Err(DbError::failed(
                    DbErrorClass::ConnectionLost,
                    "the database closed the connection",
                ));
            }
            self.read.extend_from_slice(&chunk[..n]);
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if !self.broken {
            frontend::terminate(&mut self.write);
            let _ = self.stream.write_all(&self.write);
        }
    }
}

fn protocol(detail: &str) -> DbError {
    DbError::failed(DbErrorClass::ConnectionLost, format!("protocol: {detail}"))
}

/// The blocking style's handle on the database: shared by every worker thread.
#[derive(Clone)]
pub struct BlockingDb {
    inner: Arc<Inner>,
}

struct Inner {
    spec: DbSpec,
    target: Result<Target, DbError>,
    /// Connections for reuse, first come first served (without a pool: only counts).
    pool: FairPool<Connection>,
    stats: Arc<DbStats>,
}

/// A connection lent to one query: back to the pool when dropped (pooled and sound),
/// closed otherwise.
struct Lent<'a> {
    connection: Option<Connection>,
    db: &'a Inner,
}

impl std::ops::Deref for Lent<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.connection.as_ref().expect("lent until dropped")
    }
}

impl std::ops::DerefMut for Lent<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.connection.as_mut().expect("lent until dropped")
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        if self.db.spec.pooled && !connection.broken {
            self.db.pool.give_back(connection);
        } else {
            drop(connection);
            self.db.pool.close_one();
        }
    }
}

impl BlockingDb {
    /// A client for `spec`, counting into `stats`. Nothing connects until a query.
    pub fn new(spec: &DbSpec, stats: Arc<DbStats>) -> Self {
        let target = match &spec.url {
            Some(url) => Target::parse(url),
            None => Err(DbError::NotConfigured),
        };
        Self {
            inner: Arc::new(Inner {
                spec: spec.clone(),
                target,
                pool: FairPool::new(match spec.pooled {
                    true => spec.pool,
                    false => usize::MAX, // a connection per query, as many as asked
                }),
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

    /// `/db`: K lookups, one after another, each on a connection from the pool.
    pub fn lookups(&self) -> Result<Vec<Found>, DbError> {
        (0..self.inner.spec.lookups)
            .map(|k| self.inner.lookup(k))
            .collect()
    }

    /// `/db-slow`: one query holding its connection for the spec's hold time.
    pub fn slow(&self) -> Result<(), DbError> {
        let seconds = self.inner.spec.hold.as_secs_f64();
        self.inner.run(SLOW_SQL, &[Param::Float(seconds)]).map(drop)
    }

    /// `/db-fanout`: N lookups at once on `threads` (each takes its own connection),
    /// answered in lookup order; the first failure (by index) fails the request.
    pub fn fanout(&self, threads: &ThreadPool) -> Result<Vec<Found>, DbError> {
        let n = self.inner.spec.fanout;
        let (done, results) = std::sync::mpsc::channel();
        for k in 0..n {
            let (db, done) = (self.inner.clone(), done.clone());
            threads.execute(move || {
                let _ = done.send((k, db.lookup(k)));
            });
        }
        drop(done);
        let mut found: Vec<(u32, Result<Found, DbError>)> = results.iter().collect();
        if found.len() < n as usize {
            return Err(DbError::failed(
                DbErrorClass::Query,
                "a fan-out thread panicked",
            ));
        }
        found.sort_by_key(|(k, _)| *k);
        found.into_iter().map(|(_, row)| row).collect()
    }
}

impl Inner {
    fn lookup(&self, k: u32) -> Result<Found, DbError> {
        let rows = self.run(LOOKUP_SQL, &[Param::Int(lookup_id(k))])?;
        Ok(rows.into_iter().next().map(|mut columns| {
            let email = columns.pop().flatten().unwrap_or_default();
            let name = columns.pop().flatten().unwrap_or_default();
            (name, email)
        }))
    }

    /// One statement on a lent connection, counted in the stats.
    fn run(
        &self,
        sql: &'static str,
        params: &[Param],
    ) -> Result<Vec<Vec<Option<String>>>, DbError> {
        let outcome = self
            .lend()
            .and_then(|mut connection| connection.query(sql, params));
        match &outcome {
            Ok(_) => self.stats.queried(),
            Err(error) => self.stats.failed(error.class()),
        }
        outcome
    }

    /// An idle connection, or a new one if there is room, or the next one freed, in
    /// the order callers asked.
    fn lend(&self) -> Result<Lent<'_>, DbError> {
        let target = self.target.as_ref().map_err(Clone::clone)?;
        let started = Instant::now();
        let grant = self.pool.take(started + self.spec.timeout);
        self.stats.waited(started.elapsed());
        match grant {
            Some(Grant::Idle(connection)) => Ok(self.lent(connection)),
            Some(Grant::Room) => self.open_connection(target),
            None => Err(DbError::failed(
                DbErrorClass::PoolTimeout,
                format!(
                    "no pooled connection free within {:?} (pool of {})",
                    self.spec.timeout, self.spec.pool
                ),
            )),
        }
    }

    fn lent(&self, connection: Connection) -> Lent<'_> {
        Lent {
            connection: Some(connection),
            db: self,
        }
    }

    /// Connects a new connection (its place in `open` already taken), or gives the
    /// place back.
    fn open_connection(&self, target: &Target) -> Result<Lent<'_>, DbError> {
        match Connection::connect(target, self.spec.timeout) {
            Ok(connection) => {
                self.stats.opened();
                Ok(self.lent(connection))
            }
            Err(error) => {
                self.pool.close_one();
                Err(error)
            }
        }
    }
}
