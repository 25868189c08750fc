//! Where each file of a run lives, creating a run directory that never overwrites an
//! earlier one, appending cells as they finish, and reading them back.
//!
//! What survives a crash of the machine (power loss, a kernel panic): the run folder
//! and its subfolders exist once created (their entries are synced); a cell's row in
//! `cells.csv` is on disk before the next cell starts, and so are the files it refers
//! to (its interval log and samples, synced with their folder entries before the row
//! is written); `manifest.json` is replaced whole by a synced rename, so it is the old
//! one or the new one, never half of one. Reports and charts are written without
//! syncs: they are rebuilt from those files (`sabench report`).

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
                    sync_dir(&dir.root)?;
                    sync_dir(base)?;
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

    /// Writes the manifest, replacing the previous version of this run's own manifest
    /// whole: the new text is synced, renamed over the old, and the rename synced.
    pub fn write_manifest(&self, manifest: &Manifest) -> anyhow::Result<()> {
        let path = self.manifest_path();
        let tmp = self.root.join("manifest.json.tmp");
        let mut file =
            File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        file.write_all(&serde_json::to_vec_pretty(manifest)?)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        sync_dir(&self.root)
    }

    /// Reads the manifest.
    pub fn read_manifest(&self) -> anyhow::Result<Manifest> {
        let path = self.manifest_path();
        let text =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a valid manifest", path.display()))
    }

    /// Appends one cell to `cells.csv` (header first if the file is new) and syncs it,
    /// after syncing the files the row refers to (its interval log and samples) and
    /// their folder entries.
    pub fn append_cell(&self, record: &CellRecord) -> anyhow::Result<()> {
        self.sync_files_of(&record.cell)?;
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
        if is_new {
            sync_dir(&self.root)?;
        }
        Ok(())
    }

    /// Syncs the files of cell `cell` that exist (interval log, samples, timeline) and
    /// the folders that hold them.
    fn sync_files_of(&self, cell: &str) -> anyhow::Result<()> {
        let files = [
            self.hlog_path(cell),
            self.server_samples_path(cell),
            self.timeline_path(cell),
        ];
        for path in files.iter().filter(|p| p.exists()) {
            File::open(path)
                .and_then(|file| file.sync_all())
                .with_context(|| format!("cannot sync {}", path.display()))?;
        }
        for dir in [self.hist_dir(), self.samples_dir()] {
            if dir.is_dir() {
                sync_dir(&dir)?;
            }
        }
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
    pub fn write_file(&self, name: &Path, bytes: &[u8]) -> anyhow::Result<PathBuf> {
        let path = self.root.join(name);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("cannot create {}", folder.display()))?;
        }
        let mut file =
            File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
        file.write_all(bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// Writes `text` to `name` inside the run folder (a report file, re-made at will).
    pub fn write_text(&self, name: &str, text: &str) -> anyhow::Result<PathBuf> {
        let path = self.root.join(name);
        let mut file =
            File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
        file.write_all(text.as_bytes())?;
        Ok(path)
    }
}

/// Syncs a folder, so the entries made in it (a new file, a rename) survive a crash.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|folder| folder.sync_all())
        .with_context(|| format!("cannot sync the folder {}", dir.display()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_goes_to_disk_with_the_files_it_refers_to_and_runs_never_collide() {
        let base = std::env::temp_dir().join(format!("sabench-layout-{}", std::process::id()));
        let dir = RunDir::create_new(&base, "t").unwrap();
        let again = RunDir::create_new(&base, "t").unwrap();
        assert_ne!(dir.root(), again.root(), "an earlier run is never reused");
        std::fs::write(dir.hlog_path("c1"), "#log\n").unwrap();
        std::fs::write(dir.server_samples_path("c1"), "t_s\n").unwrap();
        let record = CellRecord {
            cell: "c1".into(),
            ..CellRecord::default()
        };
        dir.append_cell(&record).unwrap();
        dir.append_cell(&CellRecord {
            cell: "c2".into(),
            ..CellRecord::default()
        })
        .unwrap();
        let cells = dir.read_cells().unwrap();
        assert_eq!(
            cells.iter().map(|c| c.cell.as_str()).collect::<Vec<_>>(),
            ["c1", "c2"]
        );
        let _ = std::fs::remove_dir_all(base);
    }
}
