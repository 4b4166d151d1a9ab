//! The output directory: written in a temporary sibling and renamed into place, so a
//! run that fails leaves nothing half-written.

use std::fs;
use std::path::{Path, PathBuf};

pub struct StagedDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Creates an empty staging directory next to `target`.
    pub fn create(target: &Path) -> Result<StagedDir, String> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(|e| {
            format!(
                "cannot create the output's parent directory {}: {e}",
                parent.display()
            )
        })?;
        let name = target
            .file_name()
            .ok_or_else(|| format!("the output path {} has no directory name", target.display()))?
            .to_string_lossy()
            .into_owned();
        let staging = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging)
                .map_err(|e| format!("cannot clear {}: {e}", staging.display()))?;
        }
        fs::create_dir(&staging)
            .map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
        Ok(StagedDir {
            target: target.to_path_buf(),
            staging,
            committed: false,
        })
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.staging.join(file)
    }

    /// Replaces `target` (if any) with the staged directory.
    pub fn commit(mut self) -> Result<PathBuf, String> {
        if self.target.exists() {
            if !self.target.is_dir() {
                return Err(format!(
                    "{} exists and is not a directory",
                    self.target.display()
                ));
            }
            let old = self.staging.with_extension("old");
            fs::rename(&self.target, &old)
                .map_err(|e| format!("cannot move the old {} aside: {e}", self.target.display()))?;
            fs::rename(&self.staging, &self.target)
                .map_err(|e| format!("cannot move the output into place: {e}"))?;
            fs::remove_dir_all(&old)
                .map_err(|e| format!("cannot remove the old output {}: {e}", old.display()))?;
        } else {
            fs::rename(&self.staging, &self.target)
                .map_err(|e| format!("cannot move the output into place: {e}"))?;
        }
        self.committed = true;
        Ok(self.target.clone())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uncommitted_output_leaves_nothing() {
        let base = std::env::temp_dir().join(format!("simctl-out-test-{}", std::process::id()));
        let target = base.join("run");
        {
            let s = StagedDir::create(&target).unwrap();
            fs::write(s.path("a"), "x").unwrap();
        }
        assert!(!target.exists());
        assert_eq!(fs::read_dir(&base).unwrap().count(), 0);
        let s = StagedDir::create(&target).unwrap();
        fs::write(s.path("a"), "y").unwrap();
        s.commit().unwrap();
        assert_eq!(fs::read_to_string(target.join("a")).unwrap(), "y");
        fs::remove_dir_all(&base).unwrap();
    }
}
