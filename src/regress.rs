//! `simctl test`: every experiment as a regression test. Each run is checked against
//! its `[[assert]]` entries and against a golden record kept next to it
//! (`golden/<name>.json`): the seed, the simctl version that blessed it, a digest of
//! every output file but `perf.json`, and the headline figures of the summary.
//!
//! Golden records pin the built-in reference profile: every cost comes from it, so a
//! run with another calibration profile differs in every figure by design. With a
//! profile ([`Profile`]) a case is checked against its assertions only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::calibrate::profile::ProfileChoice;

/// The files whose bytes a golden record pins (all outputs but `perf.json`).
pub const PINNED: [&str; 5] = [
    "summary.json",
    "requests.parquet",
    "timeseries.parquet",
    "events.parquet",
    "manifest.json",
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Golden {
    pub experiment: String,
    pub seed: u64,
    pub simctl_version: String,
    pub sets: Vec<String>,
    pub digests: BTreeMap<String, String>,
    pub figures: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Pass,
    /// Run with a calibration profile other than the reference: its assertions held
    /// (this many); the golden record was not compared.
    AssertionsPassed(usize),
    /// No golden record yet (and not blessing).
    NoGolden,
    AssertionFailed(Vec<String>),
    Changed(Vec<FigureChange>),
    /// The input could not be loaded.
    BadInput(String),
    /// A golden record was written.
    Blessed(Vec<FigureChange>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct FigureChange {
    pub figure: String,
    pub old: Option<f64>,
    pub new: Option<f64>,
}

impl FigureChange {
    pub fn describe(&self) -> String {
        let f = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_else(|| "-".into());
        let rel = match (self.old, self.new) {
            (Some(o), Some(n)) if o != 0.0 => format!("{:+.2}%", 100.0 * (n - o) / o.abs()),
            _ => "n/a".into(),
        };
        format!(
            "{}: {} -> {} ({rel})",
            self.figure,
            f(self.old),
            f(self.new)
        )
    }
}

#[derive(Clone, Debug)]
pub struct CaseReport {
    pub name: String,
    pub path: PathBuf,
    pub outcome: Outcome,
    pub wall_seconds: f64,
    /// The run's output files changed but not its headline figures.
    pub outputs_changed: Vec<String>,
}

impl CaseReport {
    pub fn passed(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::Pass | Outcome::AssertionsPassed(_) | Outcome::Blessed(_)
        )
    }
}

/// Experiment files under `paths` (directories are searched one level deep), sorted.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries =
                std::fs::read_dir(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            for e in entries {
                let path = e.map_err(|e| e.to_string())?.path();
                if path.extension().is_some_and(|x| x == "toml") {
                    out.push(path);
                }
            }
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

pub fn golden_path(experiment: &Path, name: &str) -> PathBuf {
    experiment
        .parent()
        .unwrap_or(Path::new("."))
        .join("golden")
        .join(format!("{name}.json"))
}

/// Numeric figures of the summary, flattened to dotted paths (assertions excluded).
pub fn figures(summary: &Value) -> BTreeMap<String, f64> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, f64>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if prefix.is_empty() && (k == "assertions" || k == "simctl_version") {
                        continue;
                    }
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&p, x, out);
                }
            }
            Value::Number(n) => {
                out.insert(prefix.to_string(), n.as_f64().unwrap_or(f64::NAN));
            }
            Value::Bool(b) => {
                out.insert(prefix.to_string(), f64::from(u8::from(*b)));
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk("", summary, &mut out);
    out
}

fn diff(old: &BTreeMap<String, f64>, new: &BTreeMap<String, f64>) -> Vec<FigureChange> {
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (o, n) = (old.get(k).copied(), new.get(k).copied());
            (o.map(f64::to_bits) != n.map(f64::to_bits)).then(|| FigureChange {
                figure: k.clone(),
                old: o,
                new: n,
            })
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Which calibration profile a suite runs with.
#[derive(Clone, Copy, Debug)]
pub enum Profile<'a> {
    /// The built-in reference: the golden records hold.
    Reference,
    /// Another profile: assertions only, since every cost (and so every digest and
    /// figure) is expected to differ from the golden record.
    Other(&'a ProfileChoice),
}

/// Runs one experiment with its `[test]` overrides and compares it with its golden
/// (with the reference profile) or checks only its assertions (with another one).
pub fn run_case(path: &Path, bless: bool, profile: Profile, scratch: &Path) -> CaseReport {
    assert!(
        !(bless && matches!(profile, Profile::Other(_))),
        "golden records are blessed with the reference profile only"
    );
    let wall = std::time::Instant::now();
    let name_of = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut report = CaseReport {
        name: name_of(path),
        path: path.to_path_buf(),
        outcome: Outcome::Pass,
        wall_seconds: 0.0,
        outputs_changed: Vec::new(),
    };
    let loaded = crate::scenario::load_experiment(path, &[])
        .map(|e| e.test_sets.clone())
        .and_then(|sets| crate::run::prepare(path, &sets));
    let (mut exp, layout) = match loaded {
        Ok(x) => x,
        Err(e) => {
            report.outcome = Outcome::BadInput(e.to_string());
            return report;
        }
    };
    report.name = exp.name.clone();
    if let Profile::Other(p) = profile {
        exp.profile = p.clone();
    }
    let result = crate::run::simulate(&exp, layout, &mut |_| {});
    let failed: Vec<String> = result.summary["assertions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["passed"] != true)
        .map(|a| {
            format!(
                "{} (value {})",
                a["expr"].as_str().unwrap_or(""),
                a["value"]
            )
        })
        .collect();
    if let Profile::Other(_) = profile {
        let held = result.summary["assertions"]
            .as_array()
            .map_or(0, |a| a.len());
        report.wall_seconds = wall.elapsed().as_secs_f64();
        report.outcome = if failed.is_empty() {
            Outcome::AssertionsPassed(held)
        } else {
            Outcome::AssertionFailed(failed)
        };
        return report;
    }
    let out = scratch.join(&exp.name);
    let written = crate::run::write_outputs(&exp, &result, &out);
    let mut digests = BTreeMap::new();
    if let Err(e) = written {
        report.outcome = Outcome::BadInput(e);
        return report;
    }
    for f in PINNED {
        match std::fs::read(out.join(f)) {
            Ok(b) => {
                digests.insert(f.to_string(), hex(&b));
            }
            Err(e) => {
                report.outcome = Outcome::BadInput(format!("cannot read back {f}: {e}"));
                return report;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    let record = Golden {
        experiment: exp.name.clone(),
        seed: exp.seed,
        simctl_version: env!("CARGO_PKG_VERSION").to_string(),
        sets: exp.test_sets.clone(),
        digests,
        figures: figures(&result.summary),
    };
    let gpath = golden_path(path, &exp.name);
    let old: Option<Golden> = std::fs::read_to_string(&gpath)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    report.wall_seconds = wall.elapsed().as_secs_f64();
    if bless && failed.is_empty() {
        let changes = old
            .as_ref()
            .map(|o| diff(&o.figures, &record.figures))
            .unwrap_or_default();
        let text = serde_json::to_string_pretty(&record).expect("serialisable") + "\n";
        let write = std::fs::create_dir_all(gpath.parent().expect("has a parent"))
            .and_then(|_| std::fs::write(&gpath, text));
        report.outcome = match write {
            Ok(()) => Outcome::Blessed(changes),
            Err(e) => Outcome::BadInput(format!("cannot write {}: {e}", gpath.display())),
        };
        return report;
    }
    report.outcome = match old {
        _ if !failed.is_empty() => Outcome::AssertionFailed(failed),
        None => Outcome::NoGolden,
        Some(o) => {
            let changes = diff(&o.figures, &record.figures);
            report.outputs_changed = record
                .digests
                .iter()
                .filter(|(f, d)| o.digests.get(*f) != Some(d))
                .map(|(f, _)| f.clone())
                .collect();
            if changes.is_empty() && report.outputs_changed.is_empty() && o.seed == record.seed {
                Outcome::Pass
            } else {
                Outcome::Changed(changes)
            }
        }
    };
    report
}

/// Runs every experiment on `jobs` threads. Each run is deterministic on its own, so
/// the reports do not depend on `jobs`; they come back in path order.
pub fn run_suite(
    paths: &[PathBuf],
    bless: bool,
    profile: Profile,
    jobs: usize,
    on_done: &(dyn Fn(&CaseReport) + Sync),
) -> Vec<CaseReport> {
    let scratch = std::env::temp_dir().join(format!("simctl-test-{}", std::process::id()));
    let next = AtomicUsize::new(0);
    let reports: Mutex<Vec<Option<CaseReport>>> = Mutex::new(vec![None; paths.len()]);
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, paths.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= paths.len() {
                    break;
                }
                let r = run_case(&paths[i], bless, profile, &scratch);
                on_done(&r);
                reports.lock().expect("no panics while holding the lock")[i] = Some(r);
            });
        }
    });
    let _ = std::fs::remove_dir_all(&scratch);
    reports
        .into_inner()
        .expect("threads finished")
        .into_iter()
        .map(|r| r.expect("every case ran"))
        .collect()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// One line (or a few) per case for people.
pub fn describe(r: &CaseReport) -> String {
    let head = |word: &str| format!("{word:<17} {} ({:.1} s)", r.name, r.wall_seconds);
    match &r.outcome {
        Outcome::Pass => head("pass"),
        Outcome::AssertionsPassed(0) => format!(
            "{}\n    no [[assert]] entries: nothing to check without the golden record",
            head("pass")
        ),
        Outcome::AssertionsPassed(n) => format!("{}, {n} assertions held", head("pass")),
        Outcome::NoGolden => format!(
            "{}\n    no golden record at {}; run `simctl test --bless` to create it",
            head("no golden"),
            golden_path(&r.path, &r.name).display()
        ),
        Outcome::AssertionFailed(a) => {
            let mut s = head("assertion failed");
            for x in a {
                s.push_str(&format!("\n    {x}"));
            }
            s
        }
        Outcome::Changed(changes) => {
            let mut s = head("changed");
            if changes.is_empty() {
                s.push_str(&format!(
                    "\n    headline figures unchanged; output bytes differ in {}",
                    r.outputs_changed.join(", ")
                ));
            }
            for c in changes {
                s.push_str(&format!("\n    {}", c.describe()));
            }
            s
        }
        Outcome::BadInput(e) => format!("{}\n    {}", head("error"), e.replace('\n', "\n    ")),
        Outcome::Blessed(changes) => {
            let mut s = head("blessed");
            for c in changes {
                s.push_str(&format!("\n    {}", c.describe()));
            }
            s
        }
    }
}

/// JUnit XML, one test case per experiment.
pub fn junit(reports: &[CaseReport]) -> String {
    let failures = reports.iter().filter(|r| !r.passed()).count();
    let time: f64 = reports.iter().map(|r| r.wall_seconds).sum();
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"simctl\" tests=\"{}\" failures=\"{failures}\" time=\"{time:.3}\">\n  <testsuite name=\"simctl test\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{time:.3}\">\n",
        reports.len(),
        reports.len()
    );
    for r in reports {
        s.push_str(&format!(
            "    <testcase classname=\"experiments\" name=\"{}\" time=\"{:.3}\"",
            xml_escape(&r.name),
            r.wall_seconds
        ));
        if r.passed() {
            s.push_str("/>\n");
        } else {
            let kind = match r.outcome {
                Outcome::AssertionFailed(_) => "assertion failed",
                Outcome::Changed(_) => "changed",
                Outcome::NoGolden => "no golden record",
                _ => "error",
            };
            s.push_str(&format!(
                ">\n      <failure message=\"{kind}\">{}</failure>\n    </testcase>\n",
                xml_escape(&describe(r))
            ));
        }
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}
