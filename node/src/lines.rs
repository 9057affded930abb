//! A set of lines kept in a file with one owner: the relay's host tokens, a session's
//! revoked invites. It is read once, and a file that exists but cannot be read is an
//! error — never an empty set, so revocations fail closed. Every change is made under
//! one lock and written atomically (a temporary file, fsync, rename, fsync of the
//! folder), so two admin calls at once both land and a crash leaves the old file or
//! the new one, never half of either.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Why a line file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LinesError {
    /// Reading failed (permissions, not text, a folder in its place, …).
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Writing failed; the file is as it was.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The lines of one file, owned here.
#[derive(Debug)]
pub struct LineFile {
    path: PathBuf,
    lines: Mutex<Vec<String>>,
}

impl LineFile {
    /// Reads `path`; a file that does not exist yet is empty.
    pub fn open(path: &Path) -> Result<LineFile, LinesError> {
        let lines = match std::fs::read_to_string(path) {
            Ok(text) => text
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(LinesError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Ok(LineFile {
            path: path.to_path_buf(),
            lines: Mutex::new(lines),
        })
    }

    /// A copy of the lines.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// True if some line satisfies `test`.
    pub fn any(&self, test: impl Fn(&str) -> bool) -> bool {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|l| test(l))
    }

    /// Changes the lines with `change` and writes them; if `change` fails or the
    /// write fails, nothing changes (in memory or on disk).
    pub fn update<R, E: From<LinesError>>(
        &self,
        change: impl FnOnce(&mut Vec<String>) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut lines = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = lines.clone();
        let result = change(&mut next)?;
        write_atomically(&self.path, &next).map_err(|source| LinesError::Write {
            path: self.path.clone(),
            source,
        })?;
        *lines = next;
        Ok(result)
    }
}

fn write_atomically(path: &Path, lines: &[String]) -> std::io::Result<()> {
    let folder = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(folder)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = folder.join(format!(".{name}.new"));
    {
        let mut file = std::fs::File::create(&temporary)?;
        for line in lines {
            file.write_all(line.as_bytes())?;
            file.write_all(b"\n")?;
        }
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)?;
    // The rename itself is durable only once the folder is.
    std::fs::File::open(folder)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_land_whole_and_a_failed_change_leaves_everything() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("tokens");
        let file = LineFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(file.lines().is_empty(), "no file yet: empty");
        file.update(|l| {
            l.push("a".into());
            Ok::<_, LinesError>(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let refused: Result<(), LinesError> = file.update(|l| {
            l.push("b".into());
            Err(LinesError::Write {
                path: PathBuf::from("x"),
                source: std::io::Error::other("refused by the change"),
            })
        });
        assert!(refused.is_err());
        assert_eq!(file.lines(), vec!["a".to_string()]);
        let again = LineFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.lines(), vec!["a".to_string()]);
    }

    #[test]
    fn concurrent_changes_all_land() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("revoked");
        let file = std::sync::Arc::new(LineFile::open(&path).unwrap_or_else(|e| panic!("{e}")));
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let file = std::sync::Arc::clone(&file);
                std::thread::spawn(move || {
                    file.update(|l| {
                        l.push(format!("token{i}"));
                        Ok::<_, LinesError>(())
                    })
                })
            })
            .collect();
        for thread in threads {
            assert!(thread.join().is_ok_and(|r| r.is_ok()));
        }
        let reread = LineFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reread.lines().len(), 16);
    }

    #[test]
    fn an_unreadable_file_is_an_error_not_an_empty_set() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("revoked");
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            LineFile::open(&path),
            Err(LinesError::Read { .. })
        ));
    }
}
