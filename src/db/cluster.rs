//! A throwaway PostgreSQL cluster: find the server binaries, `initdb` into a fresh
//! temporary folder (as the `postgres` system user when running as root, since initdb
//! refuses root), start `postgres` on a free loopback port with its unix socket in that
//! folder, seed the `users` table, and on stop (or drop) shut it down and remove the
//! folder. The settings fit a benchmark (`fsync=off`) and are reported with the cluster.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a throwaway cluster could not be had; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No PostgreSQL server binaries anywhere we looked.
    #[error("PostgreSQL's server binaries (initdb, postgres, psql) were not found (looked in: {looked}): install the Debian package `postgresql` (apt-get install postgresql), or point at your own server with --database-url / DATABASE_URL")]
    NotInstalled {
        /// Where we looked.
        looked: String,
    },
    /// Running as root, but there is no `postgres` user to run initdb as.
    #[error("running as root, and initdb refuses root, but there is no `postgres` system user to run it as: install the Debian package `postgresql` (it creates the user), or run as an ordinary user")]
    NoPostgresUser,
    /// A step failed; `log` is the end of what PostgreSQL said.
    #[error("{step} failed: {detail}")]
    Step {
        /// What was being done, e.g. `initdb`.
        step: String,
        /// What went wrong, with the end of PostgreSQL's own log.
        detail: String,
    },
    /// The operating system refused something (a folder, a process).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// What the OS said.
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let context = context.into();
    move |source| ClusterError::Io { context, source }
}

/// The settings of a throwaway cluster.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClusterSettings {
    /// `max_connections`.
    pub max_connections: u32,
    /// `shared_buffers`, as PostgreSQL takes it (e.g. `128MB`).
    pub shared_buffers: String,
    /// Rows seeded into `users` (ids 1..=rows).
    pub seed_rows: u32,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            max_connections: 200,
            shared_buffers: "128MB".into(),
            seed_rows: 100_000,
        }
    }
}

/// Where PostgreSQL's server binaries live.
#[derive(Debug, Clone, PartialEq)]
pub struct Binaries {
    /// The folder holding `initdb`, `postgres` and `psql`.
    pub bindir: PathBuf,
}

const NEEDED: [&str; 3] = ["initdb", "postgres", "psql"];

/// Names the one folder to take the binaries from (e.g. another PostgreSQL version).
pub const BINDIR_VARIABLE: &str = "SABENCH_PG_BINDIR";

impl Binaries {
    /// Finds them: in `$SABENCH_PG_BINDIR` alone when it is set; otherwise
    /// `pg_config --bindir`, then `/usr/lib/postgresql/<newest>/bin`, then the folder of
    /// an `initdb` on PATH (symlinks resolved).
    pub fn find() -> Result<Self, ClusterError> {
        let mut looked = Vec::new();
        let candidates: Vec<PathBuf> = match std::env::var_os(BINDIR_VARIABLE) {
            Some(dir) => vec![PathBuf::from(dir)],
            None => pg_config_bindir()
                .into_iter()
                .chain(debian_bindirs())
                .chain(path_bindir())
                .collect(),
        };
        for dir in candidates {
            if NEEDED.iter().all(|b| dir.join(b).is_file()) {
                return Ok(Self { bindir: dir });
            }
            looked.push(dir.display().to_string());
        }
        if looked.is_empty() {
            looked.push("pg_config, /usr/lib/postgresql/*/bin, PATH".into());
        }
        Err(ClusterError::NotInstalled {
            looked: looked.join(", "),
        })
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }
}

fn pg_config_bindir() -> Option<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// `/usr/lib/postgresql/<version>/bin`, newest version first.
fn debian_bindirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") else {
        return Vec::new();
    };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

fn path_bindir() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("initdb"))
        .find(|initdb| initdb.is_file())
        .and_then(|initdb| std::fs::canonicalize(initdb).ok())
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
}

/// The account the cluster's processes run as: ours, or `postgres` when we are root.
#[derive(Debug, Clone, Copy)]
struct Account {
    uid: u32,
    gid: u32,
}

impl Account {
    fn for_cluster() -> Result<Option<Self>, ClusterError> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(None);
        }
        let name = CString::new("postgres").map_err(|_| ClusterError::NoPostgresUser)?;
        // SAFETY: getpwnam with a valid C string; the result is read at once.
        let entry = unsafe { libc::getpwnam(name.as_ptr()) };
        if entry.is_null() {
            return Err(ClusterError::NoPostgresUser);
        }
        // SAFETY: non-null, points at libc's static passwd entry.
        let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
        Ok(Some(Self { uid, gid }))
    }

    fn command(account: Option<Self>, program: &Path) -> Command {
        let mut command = Command::new(program);
        if let Some(account) = account {
            command.uid(account.uid).gid(account.gid);
        }
        command.env_remove("PGDATA").env("LC_ALL", "C");
        command
    }

    fn own(account: Option<Self>, path: &Path) -> Result<(), ClusterError> {
        let Some(account) = account else {
            return Ok(());
        };
        let c_path =
            CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| ClusterError::Step {
                step: "chown".into(),
                detail: format!("{} has a NUL byte", path.display()),
            })?;
        // SAFETY: chown of a folder we created, with a valid C string.
        if unsafe { libc::chown(c_path.as_ptr(), account.uid, account.gid) } != 0 {
            return Err(io(format!(
                "cannot hand {} to the postgres user",
                path.display()
            ))(std::io::Error::last_os_error()));
        }
        Ok(())
    }
}

/// The database user and database every cluster has.
pub const USER: &str = "sabench";

/// A running throwaway cluster; dropping it stops the server and removes its folder.
pub struct Cluster {
    folder: PathBuf,
    port: u16,
    server: Option<Child>,
    binaries: Binaries,
    account: Option<Account>,
    settings: ClusterSettings,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("folder", &self.folder)
            .field("port", &self.port)
            .finish()
    }
}

/// How long the server gets to accept connections after it starts.
const READY_WITHIN: Duration = Duration::from_secs(30);

impl Cluster {
    /// Creates, starts and seeds a cluster in a fresh folder under `parent` (e.g. the
    /// system temporary folder).
    pub fn start(parent: &Path, settings: &ClusterSettings) -> Result<Self, ClusterError> {
        let binaries = Binaries::find()?;
        let account = Account::for_cluster()?;
        let folder = fresh_folder(parent)?;
        let mut cluster = Self {
            folder,
            port: 0,
            server: None,
            binaries,
            account,
            settings: settings.clone(),
        };
        // From here a failure drops `cluster`, which removes the folder.
        Account::own(account, &cluster.folder)?;
        cluster.initdb()?;
        cluster.port = free_port()?;
        cluster.launch()?;
        cluster.wait_ready()?;
        cluster.seed()?;
        Ok(cluster)
    }

    /// `postgres://sabench@127.0.0.1:PORT/sabench`.
    pub fn url(&self) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{USER}", self.port)
    }

    /// The cluster's folder (data, unix socket, log).
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The postmaster's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(Child::id)
    }

    /// How the postmaster ended, if it has (it should run until stopped).
    pub fn exited(&mut self) -> Option<String> {
        let status = self.server.as_mut()?.try_wait().ok()??;
        Some(format!("{status}: {}", self.log_tail()))
    }

    /// Runs one SQL text through `psql` and returns what it printed (unaligned, tuples
    /// only).
    pub fn psql(&self, sql: &str) -> Result<String, ClusterError> {
        self.psql_in(USER, sql)
    }

    /// [`Cluster::psql`] in database `database`.
    fn psql_in(&self, database: &str, sql: &str) -> Result<String, ClusterError> {
        let mut command = Account::command(self.account, &self.binaries.bin("psql"));
        command
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.folder)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                USER,
                "-d",
                database,
                "-c",
                sql,
            ])
            .stdin(Stdio::null());
        finish("psql", command)
    }

    /// Stops the server (fast shutdown, then SIGKILL after 10 s) and removes the folder.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn data(&self) -> PathBuf {
        self.folder.join("data")
    }

    fn log(&self) -> PathBuf {
        self.folder.join("postgres.log")
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" / ")
    }

    fn initdb(&self) -> Result<(), ClusterError> {
        let mut command = Account::command(self.account, &self.binaries.bin("initdb"));
        command
            .arg("-D")
            .arg(self.data())
            .args([
                "-U",
                USER,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .stdin(Stdio::null());
        finish("initdb", command).map(drop)
    }

    fn launch(&mut self) -> Result<(), ClusterError> {
        let log = std::fs::File::create(self.log()).map_err(io("cannot write postgres.log"))?;
        Account::own(self.account, &self.log())?;
        let mut command = Account::command(self.account, &self.binaries.bin("postgres"));
        command
            .arg("-D")
            .arg(self.data())
            .arg("-k")
            .arg(&self.folder)
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off"])
            .args(["-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"])
            .args([
                "-c",
                &format!("max_connections={}", self.settings.max_connections),
            ])
            .args([
                "-c",
                &format!("shared_buffers={}", self.settings.shared_buffers),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        // SAFETY: only async-signal-safe calls (setpgid, prctl).
        unsafe {
            command.pre_exec(|| {
                libc::setpgid(0, 0);
                // The postmaster dies with whoever started it; its backends notice
                // their postmaster's death and exit too.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        self.server = Some(command.spawn().map_err(io("cannot start postgres"))?);
        Ok(())
    }

    fn wait_ready(&mut self) -> Result<(), ClusterError> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(Ok(Some(status))) = self.server.as_mut().map(Child::try_wait) {
                return Err(ClusterError::Step {
                    step: "starting postgres".into(),
                    detail: format!("it exited ({status}): {}", self.log_tail()),
                });
            }
            if self.psql_in("postgres", "SELECT 1").is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(ClusterError::Step {
                    step: "starting postgres".into(),
                    detail: format!("no connection within {READY_WITHIN:?}: {}", self.log_tail()),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn seed(&self) -> Result<(), ClusterError> {
        self.psql_in("postgres", &format!("CREATE DATABASE {USER}"))?;
        self.psql(&format!(
            "CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL, email text NOT NULL); \
             INSERT INTO users SELECT g, 'user ' || g, 'user' || g || '@example.com' \
             FROM generate_series(1, {}) AS g; ANALYZE users;",
            self.settings.seed_rows
        ))
        .map(drop)
    }

    fn shut_down(&mut self) {
        if let Some(mut server) = self.server.take() {
            let pid = server.id() as libc::pid_t;
            // SAFETY: signalling our own child. SIGINT is PostgreSQL's fast shutdown.
            unsafe { libc::kill(pid, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Runs one of PostgreSQL's tools to its end: what it printed, or the step's error with
/// what it said on stderr.
fn finish(step: &str, mut command: Command) -> Result<String, ClusterError> {
    let out = command.output().map_err(io(format!("cannot run {step}")))?;
    if !out.status.success() {
        return Err(ClusterError::Step {
            step: step.into(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A new, empty folder `sabench-pg-<pid>-<n>` under `parent`.
fn fresh_folder(parent: &Path) -> Result<PathBuf, ClusterError> {
    for n in 0..1000 {
        let folder = parent.join(format!("sabench-pg-{}-{n}", std::process::id()));
        match std::fs::create_dir(&folder) {
            Ok(()) => return Ok(folder),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(io(format!(
                    "cannot create a folder in {}",
                    parent.display()
                ))(e))
            }
        }
    }
    Err(ClusterError::Step {
        step: "creating the cluster folder".into(),
        detail: format!(
            "1000 folders named sabench-pg-{}-* exist already in {}",
            std::process::id(),
            parent.display()
        ),
    })
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, ClusterError> {
    let listener = crate::net::bind_ephemeral().map_err(|e| ClusterError::Step {
        step: "finding a free port".into(),
        detail: e.to_string(),
    })?;
    let port = listener
        .local_addr()
        .map_err(io("cannot find a free port"))?
        .port();
    Ok(port)
}
