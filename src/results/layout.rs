//! Where each file of a run lives, creating a run directory that never overwrites an
//! earlier one, appending cells as they finish, and reading them back.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{CellRecord, Manifest, ServerSample};

/// A run's directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// A new folder that holds runs rather than cells (an invariance check's, an A/B
    /// comparison's): named like a run, without `hist/` and `samples/`.
    pub fn create_folder_of_runs(base: &Path, name: &str) -> anyhow::Result<PathBuf> {
        let folder = Self::create_new(base, name)?;
        for sub in [folder.hist_dir(), folder.samples_dir()] {
            let _ = std::fs::remove_dir(sub);
        }
        Ok(folder.root)
    }

    /// Creates `base/<stamp>-<name>` (adding `-2`, `-3`… if taken) with its subfolders.
    pub fn create_new(base: &Path, name: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(base)
            .with_context(|| format!("cannot create the results folder {}", base.display()))?;
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .replace([':', '-'], "")
            .replace('T', "-")
            .trim_end_matches('Z')
            .to_string();
        for attempt in 1..1000 {
            let id = if attempt == 1 {
                format!("{stamp}-{name}")
            } else {
                format!("{stamp}-{name}-{attempt}")
            };
            let root = base.join(id);
            match std::fs::create_dir(&root) {
                Ok(()) => {
                    let dir = Self { root };
                    for sub in [dir.hist_dir(), dir.samples_dir()] {
                        std::fs::create_dir_all(&sub)?;
                    }
                    return Ok(dir);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", root.display()))
                }
            }
        }
        anyhow::bail!(
            "could not find a free run folder name under {}",
            base.display()
        )
    }

    /// An existing run directory (it must hold a manifest).
    pub fn open(root: &Path) -> anyhow::Result<Self> {
        let dir = Self {
            root: root.to_path_buf(),
        };
        anyhow::ensure!(
            dir.manifest_path().is_file(),
            "{} is not a run folder: it has no manifest.json (runs live under results/<run-id>/)",
            root.display()
        );
        Ok(dir)
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Its name (the run id).
    pub fn id(&self) -> String {
        self.root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// `manifest.json`.
    pub fn manifest_path(&self) -> PathBuf {
        self.root.join("manifest.json")
    }
    /// `cells.csv`.
    pub fn cells_path(&self) -> PathBuf {
        self.root.join("cells.csv")
    }
    /// `hist/`.
    pub fn hist_dir(&self) -> PathBuf {
        self.root.join("hist")
    }
    /// `samples/`.
    pub fn samples_dir(&self) -> PathBuf {
        self.root.join("samples")
    }
    /// `charts/`.
    pub fn charts_dir(&self) -> PathBuf {
        self.root.join("charts")
    }
    /// The HdrHistogram log of a cell.
    pub fn hlog_path(&self, cell: &str) -> PathBuf {
        self.hist_dir().join(format!("{cell}.hlog"))
    }
    /// The server samples of a cell.
    pub fn server_samples_path(&self, cell: &str) -> PathBuf {
        self.samples_dir().join(format!("{cell}.server.csv"))
    }
    /// The per-second load timeline of a cell.
    pub fn timeline_path(&self, cell: &str) -> PathBuf {
        self.samples_dir().join(format!("{cell}.timeline.csv"))
    }

    /// Writes the manifest (replacing the previous version of this run's own manifest).
    pub fn write_manifest(&self, manifest: &Manifest) -> anyhow::Result<()> {
        let path = self.manifest_path();
        let tmp = self.root.join("manifest.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(manifest)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Reads the manifest.
    pub fn read_manifest(&self) -> anyhow::Result<Manifest> {
        let path = self.manifest_path();
        let text =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a valid manifest", path.display()))
    }

    /// Appends one cell to `cells.csv` (header first if the file is new) and syncs it.
    pub fn append_cell(&self, record: &CellRecord) -> anyhow::Result<()> {
        let path = self.cells_path();
        let is_new = !path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let mut writer = csv::WriterBuilder::new()
            .has_headers(is_new)
            .from_writer(file);
        writer.serialize(record)?;
        let file = writer
            .into_inner()
            .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error()))?;
        // On disk before the next cell starts: a crash of the machine loses no finished cell.
        file.sync_data()
            .with_context(|| format!("cannot sync {}", path.display()))?;
        Ok(())
    }

    /// Reads every cell written so far.
    pub fn read_cells(&self) -> anyhow::Result<Vec<CellRecord>> {
        read_csv(&self.cells_path())
    }

    /// Writes any serializable rows as CSV.
    pub fn write_csv<T: serde::Serialize>(path: &Path, rows: &[T]) -> anyhow::Result<()> {
        let file =
            File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
        let mut writer = csv::Writer::from_writer(file);
        for row in rows {
            writer.serialize(row)?;
        }
        writer.flush()?;
        Ok(())
    }

    /// Reads a cell's server samples: empty if the file is missing (a cell that was
    /// not sampled), an error naming the file and row if it is malformed.
    pub fn read_server_samples(&self, cell: &str) -> anyhow::Result<Vec<ServerSample>> {
        let path = self.server_samples_path(cell);
        if !path.exists() {
            return Ok(Vec::new());
        }
        read_csv(&path)
    }

    /// Writes a text file inside the run folder.
    pub fn write_text(&self, name: &str, text: &str) -> anyhow::Result<PathBuf> {
        let path = self.root.join(name);
        let mut file =
            File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
        file.write_all(text.as_bytes())?;
        Ok(path)
    }
}

/// Reads rows of a CSV file with a header.
pub fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    reader
        .deserialize()
        .enumerate()
        .map(|(i, row)| {
            row.with_context(|| format!("{}: row {} is malformed", path.display(), i + 2))
        })
        .collect()
}

/// Keeps letters, digits, `-` and `_`; anything else becomes `-`.
pub fn slug(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').to_string()
}
