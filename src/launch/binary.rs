//! Finding the program of a group: a path (relative to the manifest), or the
//! name of a binary built in the workspace.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where binaries named without a path are looked for, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Locator {
    /// The manifest's directory: relative paths start here.
    pub(crate) manifest_dir: PathBuf,
    /// Where the workspace's binaries are, searched first, in order.
    pub(crate) dirs: Vec<PathBuf>,
    /// The directories of `$PATH`, searched next.
    pub(crate) path: Vec<PathBuf>,
}

/// Why a binary was not found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Missing {
    /// Nothing at any of these places.
    NotFound {
        /// Every place looked at, but those of `$PATH`.
        looked: Vec<PathBuf>,
        /// Whether `$PATH` was searched too.
        in_path: bool,
        /// A binary of a close name in the workspace's places (a typo?).
        similar: Option<String>,
    },
    /// Something at `path`, but not an executable file.
    NotExecutable {
        /// The file.
        path: PathBuf,
        /// Why it cannot be run.
        why: &'static str,
    },
}

impl Locator {
    /// The places of this machine: next to the running `mycelium`, then
    /// `$CARGO_TARGET_DIR/{release,debug}`, then `target/{release,debug}` in
    /// the manifest's directory or its nearest ancestor that has one, then in
    /// the working directory (if it has one), then `$PATH`.
    pub(crate) fn new(manifest_dir: &Path) -> Self {
        let exe_dir = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
        let mut targets = Vec::new();
        if let Some(t) = std::env::var_os("CARGO_TARGET_DIR").filter(|t| !t.is_empty()) {
            targets.push(PathBuf::from(t));
        }
        if let Some(t) = manifest_dir.ancestors().map(|a| a.join("target")).find(|t| t.is_dir()) {
            targets.push(t);
        }
        if let Some(t) = std::env::current_dir().ok().map(|cwd| cwd.join("target")).filter(|t| t.is_dir()) {
            targets.push(t);
        }
        Self::with(manifest_dir, exe_dir, &targets, std::env::var_os("PATH"))
    }

    /// The places given: `exe_dir` first, then each target directory's
    /// `release` and `debug`, then each directory of `path`.
    pub(crate) fn with(
        manifest_dir: &Path,
        exe_dir: Option<PathBuf>,
        targets: &[PathBuf],
        path: Option<OsString>,
    ) -> Self {
        let mut dirs: Vec<PathBuf> = Vec::new();
        let workspace = exe_dir.into_iter().chain(targets.iter().flat_map(|t| [t.join("release"), t.join("debug")]));
        for d in workspace.map(|d| normalize(&d)) {
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
        let mut path_dirs: Vec<PathBuf> = Vec::new();
        for d in path.iter().flat_map(std::env::split_paths).filter(|p| !p.as_os_str().is_empty()) {
            let d = normalize(&d);
            if !dirs.contains(&d) && !path_dirs.contains(&d) {
                path_dirs.push(d);
            }
        }
        Self { manifest_dir: manifest_dir.to_path_buf(), dirs, path: path_dirs }
    }

    /// The program for `binary`: a path if it holds a `/` (relative ones
    /// start at the manifest's directory), else the first executable of
    /// that name in [`Locator::dirs`], then in [`Locator::path`].
    pub(crate) fn find(&self, binary: &str) -> Result<PathBuf, Missing> {
        if binary.contains('/') {
            let path = normalize(&self.manifest_dir.join(binary));
            return match executable(&path) {
                Ok(()) => Ok(path),
                Err(None) => Err(Missing::NotFound { looked: vec![path], in_path: false, similar: None }),
                Err(Some(why)) => Err(Missing::NotExecutable { path, why }),
            };
        }
        for dir in self.dirs.iter().chain(&self.path) {
            let path = dir.join(binary);
            match executable(&path) {
                Ok(()) => return Ok(path),
                Err(None) => {}
                // A file that is there but cannot run is what the user meant.
                Err(Some(why)) => return Err(Missing::NotExecutable { path, why }),
            }
        }
        Err(Missing::NotFound {
            looked: self.dirs.iter().map(|d| d.join(binary)).collect(),
            in_path: !self.path.is_empty(),
            similar: self.similar(binary),
        })
    }

    /// The executable in [`Locator::dirs`] whose name is closest to `binary`.
    fn similar(&self, binary: &str) -> Option<String> {
        let names: Vec<String> = self
            .dirs
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| executable(&e.path()).is_ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        super::problem::closest(binary, names.iter().map(String::as_str)).map(str::to_owned)
    }
}

/// `Ok` for an executable file; `Err(None)` when nothing is there,
/// `Err(Some(why))` when something is there that cannot run.
fn executable(path: &Path) -> Result<(), Option<&'static str>> {
    match std::fs::metadata(path) {
        Err(_) => Err(None),
        Ok(m) if m.is_dir() => Err(Some("it is a directory")),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Err(Some("it is not executable")),
        Ok(_) => Ok(()),
    }
}

/// `path` absolute, with `.` and `..` resolved lexically (symlinks kept).
fn normalize(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |cwd| cwd.join(path))
    };
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(path: &Path, mode: u32) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn a_bare_name_is_looked_for_next_to_mycelium_then_release_then_debug_then_path() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        let exe = root.join("bin");
        let target = root.join("target");
        let path_dir = root.join("path");
        make(&target.join("debug/elf-a"), 0o755);
        make(&target.join("release/elf-a"), 0o755);
        make(&exe.join("elf-b"), 0o755);
        make(&target.join("debug/elf-b"), 0o755);
        make(&path_dir.join("tool"), 0o755);
        make(&target.join("debug/elf-c"), 0o644);
        let loc = Locator::with(
            root,
            Some(exe.clone()),
            std::slice::from_ref(&target),
            Some(path_dir.clone().into_os_string()),
        );
        assert_eq!(loc.find("elf-a"), Ok(target.join("release/elf-a")));
        assert_eq!(loc.find("elf-b"), Ok(exe.join("elf-b")));
        assert_eq!(loc.find("tool"), Ok(path_dir.join("tool")));
        assert_eq!(
            loc.find("elf-c"),
            Err(Missing::NotExecutable { path: target.join("debug/elf-c"), why: "it is not executable" })
        );
        let Err(Missing::NotFound { looked, in_path, similar }) = loc.find("unrelated") else {
            panic!("found a missing binary")
        };
        assert_eq!(
            looked,
            vec![exe.join("unrelated"), target.join("release/unrelated"), target.join("debug/unrelated")]
        );
        assert!(in_path);
        assert_eq!(similar, None);
        let Err(Missing::NotFound { similar, .. }) = loc.find("elf-aa") else { panic!("found a missing binary") };
        assert_eq!(similar.as_deref(), Some("elf-a"));
    }

    #[test]
    fn a_path_is_relative_to_the_manifest() {
        let tmp = tempfile::tempdir().expect("tmp");
        let manifest_dir = tmp.path().join("examples");
        make(&tmp.path().join("bin/run.sh"), 0o755);
        let loc = Locator::with(&manifest_dir, None, &[], None);
        assert_eq!(loc.find("../bin/run.sh"), Ok(tmp.path().join("bin/run.sh")));
        assert_eq!(
            loc.find("./nope"),
            Err(Missing::NotFound { looked: vec![manifest_dir.join("nope")], in_path: false, similar: None })
        );
        assert!(matches!(loc.find("../bin"), Err(Missing::NotExecutable { why: "it is a directory", .. })));
    }
}
