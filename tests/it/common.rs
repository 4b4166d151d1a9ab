//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Runs the simctl binary in the repository; returns its exit code, stdout and stderr.
pub fn simctl(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_simctl"))
        .args(args)
        .current_dir(repo("."))
        .output()
        .expect("simctl starts");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fresh, empty temporary directory, named after `name` for whoever looks while a
/// test runs, and removed with everything in it when the value is dropped: a test
/// run leaves nothing behind in the system's temporary directory.
pub fn temp_dir(name: &str) -> Scratch {
    let name: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    Scratch(
        tempfile::Builder::new()
            .prefix(&format!("simctl-it-{name}-"))
            .tempdir()
            .expect("a temporary directory"),
    )
}

/// A temporary directory that is removed when dropped; used as a `Path`.
pub struct Scratch(tempfile::TempDir);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}

/// Runs an experiment through the library and writes its outputs into `out`;
/// returns the summary.
pub fn run_to(exp: &str, sets: &[&str], out: &Path) -> serde_json::Value {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let (exp, layout) = simctl::run::prepare(&repo(exp), &sets).unwrap_or_else(|e| panic!("{e}"));
    let result = simctl::run::simulate(&exp, layout, &mut |_| {});
    simctl::run::write_outputs(&exp, &result, out).unwrap();
    result.summary
}

/// An output table of a run.
pub fn frame(dir: &Path, file: &str) -> polars::prelude::DataFrame {
    use polars::prelude::SerReader;
    let f = std::fs::File::open(dir.join(file)).unwrap();
    polars::prelude::ParquetReader::new(f).finish().unwrap()
}

/// Times of the events of `kind` in an events table, in order.
pub fn event_times(ev: &polars::prelude::DataFrame, kind: &str) -> Vec<f64> {
    let kinds = ev.column("kind").unwrap().str().unwrap();
    let t = ev.column("t_s").unwrap().f64().unwrap();
    (0..ev.height())
        .filter(|&i| kinds.get(i) == Some(kind))
        .map(|i| t.get(i).unwrap())
        .collect()
}

/// The number at dotted `path` of a summary.
pub fn f(v: &serde_json::Value, path: &str) -> f64 {
    let mut x = v;
    for k in path.split('.') {
        x = &x[k];
    }
    x.as_f64()
        .unwrap_or_else(|| panic!("{path} is not a number: {x}"))
}

/// Writes experiment `rel` into `dir` as `name`, changed by `edit`, with its
/// topology path made absolute so it runs from there; returns its path.
pub fn experiment_with(
    rel: &str,
    dir: &Path,
    name: &str,
    edit: impl FnOnce(String) -> String,
) -> PathBuf {
    let text = std::fs::read_to_string(repo(rel)).unwrap().replace(
        "../topologies/",
        &format!("{}/topologies/", env!("CARGO_MANIFEST_DIR")),
    );
    let path = dir.join(name);
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// Runs experiment `rel` changed by `edit` (see [`experiment_with`]) with `sets`,
/// in a temporary directory named after `tag` that is removed again; returns the
/// summary.
pub fn run_edited(
    rel: &str,
    tag: &str,
    sets: &[&str],
    edit: impl FnOnce(String) -> String,
) -> serde_json::Value {
    let dir = temp_dir(tag);
    let exp = experiment_with(rel, &dir, "exp.toml", edit);
    let s = run_to(exp.to_str().unwrap(), sets, &dir.join("run"));
    let _ = std::fs::remove_dir_all(&dir);
    s
}

/// Every output but perf.json is byte-identical in `a` and `b`.
pub fn assert_same_outputs(a: &Path, b: &Path, what: &str) {
    for file in [
        "summary.json",
        "requests.parquet",
        "timeseries.parquet",
        "events.parquet",
        "manifest.json",
    ] {
        let x = std::fs::read(a.join(file)).unwrap();
        let y = std::fs::read(b.join(file)).unwrap();
        assert!(x == y, "{what}: {file} differs between two runs");
    }
}
