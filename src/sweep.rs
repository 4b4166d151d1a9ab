//! Sweeps: one experiment run over a grid of `--set` values and seeds, every point
//! deterministic on its own, written as a Hive-partitioned dataset with an index
//! (`points.parquet`) of every point's summary figures.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use polars::prelude::*;
use serde_json::{json, Value};

use crate::calibrate::profile::ProfileChoice;

/// One point of the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub index: usize,
    /// (key, value) for every varied key, in key order; a `seeds` key becomes `seed`.
    pub values: Vec<(String, String)>,
}

impl Point {
    /// The `--set` overrides of this point.
    pub fn sets(&self) -> Vec<String> {
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// Hive-style relative directory: `workload_search_qps=1000/seed=1`.
    pub fn dir(&self) -> PathBuf {
        self.values
            .iter()
            .map(|(k, v)| format!("{}={}", column_name(k), sanitize(&short(v))))
            .collect()
    }
}

/// The partition column name of a key: dots become underscores.
pub fn column_name(key: &str) -> String {
    sanitize(&key.replace('.', "_"))
}

/// A path value is named by its file stem (`../topologies/x.toml` -> `x`).
fn short(v: &str) -> String {
    if v.contains('/') {
        Path::new(v)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| v.to_string())
    } else {
        v.to_string()
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The grid: every combination of the varied keys (sorted by key), seeds last.
pub fn grid(axes: &[(String, Vec<String>)]) -> Vec<Point> {
    let mut axes: Vec<(String, Vec<String>)> = axes
        .iter()
        .map(|(k, v)| {
            (
                if k == "seeds" {
                    "seed".to_string()
                } else {
                    k.clone()
                },
                v.clone(),
            )
        })
        .collect();
    axes.sort_by_key(|(k, _)| (k == "seed", k.clone()));
    let mut points = vec![Vec::new()];
    for (key, values) in &axes {
        let mut next = Vec::new();
        for p in &points {
            for v in values {
                let mut q: Vec<(String, String)> = p.clone();
                q.push((key.clone(), v.clone()));
                next.push(q);
            }
        }
        points = next;
    }
    points
        .into_iter()
        .enumerate()
        .map(|(index, values)| Point { index, values })
        .collect()
}

/// Merges `--vary KEY=v1,v2` entries over the experiment's `[sweep]` table.
pub fn axes(
    from_file: &[(String, Vec<String>)],
    vary: &[String],
) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut axes: BTreeMap<String, Vec<String>> = from_file.iter().cloned().collect();
    for v in vary {
        let (k, vals) = v
            .split_once('=')
            .ok_or_else(|| format!("--vary {v:?}: expected KEY=v1,v2,..."))?;
        let vals: Vec<String> = vals
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if vals.is_empty() {
            return Err(format!("--vary {v:?}: no values"));
        }
        axes.insert(k.trim().to_string(), vals);
    }
    if axes.is_empty() {
        return Err(
            "nothing to sweep: the experiment has no [sweep] table and no --vary was given".into(),
        );
    }
    Ok(axes.into_iter().collect())
}

/// Parses `--shard I/N` (1-based).
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("--shard {s:?}: expected I/N, e.g. 2/3"))?;
    let (i, n): (usize, usize) = (
        i.trim()
            .parse()
            .map_err(|_| format!("--shard {s:?}: I is not a number"))?,
        n.trim()
            .parse()
            .map_err(|_| format!("--shard {s:?}: N is not a number"))?,
    );
    if n == 0 || i == 0 || i > n {
        return Err(format!("--shard {s:?}: need 1 <= I <= N"));
    }
    Ok((i, n))
}

/// The points of shard `i` of `n`: every n-th point, so shards get similar mixes.
pub fn shard(points: Vec<Point>, i: usize, n: usize) -> Vec<Point> {
    points
        .into_iter()
        .filter(|p| p.index % n == i - 1)
        .collect()
}

/// Runs the points on `jobs` threads into `out`; `on_done` sees each finished point.
/// Returns the points that failed, with their errors.
pub fn run_points(
    experiment: &Path,
    base_sets: &[String],
    profile: &ProfileChoice,
    points: &[Point],
    out: &Path,
    jobs: usize,
    on_done: &(dyn Fn(&Point) + Sync),
) -> Vec<(Point, String)> {
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, points.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(p) = points.get(i) else { break };
                if let Err(e) = run_point(experiment, base_sets, profile, p, out) {
                    failures
                        .lock()
                        .expect("no panic while locked")
                        .push((p.clone(), e));
                }
                on_done(p);
            });
        }
    });
    let mut f = failures.into_inner().expect("threads finished");
    f.sort_by_key(|(p, _)| p.index);
    f
}

fn run_point(
    experiment: &Path,
    base_sets: &[String],
    profile: &ProfileChoice,
    p: &Point,
    out: &Path,
) -> Result<(), String> {
    let mut sets = base_sets.to_vec();
    sets.extend(p.sets());
    let (mut exp, layout) = crate::run::prepare(experiment, &sets).map_err(|e| e.to_string())?;
    exp.profile = profile.clone();
    let result = crate::run::simulate(&exp, layout, &mut |_| {});
    let dir = out.join(p.dir());
    crate::run::write_outputs(&exp, &result, &dir)?;
    let point = json!({
        "point": p.index,
        "values": p.values.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
    });
    std::fs::write(
        dir.join("point.json"),
        serde_json::to_string_pretty(&point).expect("json") + "\n",
    )
    .map_err(|e| format!("cannot write point.json: {e}"))
}

/// Every point directory (holding `point.json` and `summary.json`) under `root`.
pub fn find_points(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        if d.join("point.json").is_file() && d.join("summary.json").is_file() {
            found.push(d.clone());
        }
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                let p = e.path();
                let hidden = p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'));
                if p.is_dir() && !hidden {
                    stack.push(p);
                }
            }
        }
    }
    // In grid order when the point index can be read, else by path.
    let index = |d: &PathBuf| -> Option<u64> {
        let t = std::fs::read_to_string(d.join("point.json")).ok()?;
        serde_json::from_str::<Value>(&t).ok()?["point"].as_u64()
    };
    found.sort_by_key(|d| (index(d), d.clone()));
    found
}

/// One point of the index: its directory, varied values and summary figures.
type IndexRow = (String, BTreeMap<String, String>, BTreeMap<String, f64>);

/// Writes `points.parquet` into `out` from the point directories under `roots`:
/// one row per point (by point index), the varied keys as columns, then every
/// numeric summary figure as a column named by its dotted path.
pub fn write_index(roots: &[PathBuf], out: &Path) -> Result<usize, String> {
    let mut rows: BTreeMap<u64, IndexRow> = BTreeMap::new();
    for root in roots {
        for dir in find_points(root) {
            let read = |f: &str| -> Result<Value, String> {
                let text = std::fs::read_to_string(dir.join(f))
                    .map_err(|e| format!("{}: {e}", dir.join(f).display()))?;
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", dir.join(f).display()))
            };
            let point = read("point.json")?;
            let summary = read("summary.json")?;
            let index = point["point"]
                .as_u64()
                .ok_or("point.json has no point index")?;
            let values = point["values"]
                .as_object()
                .ok_or("point.json has no values")?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            let rel = dir
                .strip_prefix(root)
                .unwrap_or(&dir)
                .to_string_lossy()
                .into_owned();
            if rows
                .insert(index, (rel, values, crate::regress::figures(&summary)))
                .is_some()
            {
                return Err(format!(
                    "point {index} appears twice under {}",
                    roots
                        .iter()
                        .map(|r| r.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    if rows.is_empty() {
        return Err("no sweep points found (directories with point.json and summary.json)".into());
    }
    let keys: BTreeSet<String> = rows
        .values()
        .flat_map(|(_, v, _)| v.keys().cloned())
        .collect();
    let key_columns: BTreeSet<String> = keys.iter().map(|k| column_name(k)).collect();
    // A varied key's column wins over a summary figure of the same name (`seed`).
    let figs: BTreeSet<String> = rows
        .values()
        .flat_map(|(_, _, f)| f.keys().cloned())
        .filter(|f| !key_columns.contains(f))
        .collect();
    let mut columns = vec![
        Column::new("point".into(), rows.keys().copied().collect::<Vec<u64>>()),
        Column::new(
            "dir".into(),
            rows.values()
                .map(|(d, _, _)| d.as_str())
                .collect::<Vec<&str>>(),
        ),
    ];
    for k in &keys {
        let vals: Vec<Option<&str>> = rows
            .values()
            .map(|(_, v, _)| v.get(k).map(|s| s.as_str()))
            .collect();
        let numeric: Option<Vec<Option<f64>>> = vals
            .iter()
            .map(|v| match v {
                Some(s) => s.parse::<f64>().ok().map(Some),
                None => Some(None),
            })
            .collect();
        let name = column_name(k);
        columns.push(match numeric {
            Some(n) => Column::new(name.into(), n),
            None => Column::new(name.into(), vals),
        });
    }
    for f in &figs {
        let vals: Vec<Option<f64>> = rows.values().map(|(_, _, m)| m.get(f).copied()).collect();
        columns.push(Column::new(f.as_str().into(), vals));
    }
    let mut df = DataFrame::new(rows.len(), columns).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let path = out.join("points.parquet");
    let tmp = out.join(".points.parquet.tmp");
    let file =
        std::fs::File::create(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Zstd(None))
        .set_parallel(false)
        .finish(&mut df)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    std::fs::rename(&tmp, &path)
        .map_err(|e| format!("cannot move {} into place: {e}", path.display()))?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_the_cartesian_product_with_seeds_last() {
        let g = grid(&[
            ("seeds".into(), vec!["1".into(), "2".into()]),
            (
                "workload.search_qps".into(),
                vec!["500".into(), "1000".into()],
            ),
        ]);
        assert_eq!(g.len(), 4);
        assert_eq!(g[1].sets(), vec!["workload.search_qps=500", "seed=2"]);
        assert_eq!(g[2].dir(), PathBuf::from("workload_search_qps=1000/seed=1"));
    }

    #[test]
    fn shards_partition_the_grid() {
        let g = grid(&[("a".into(), (0..7).map(|i| i.to_string()).collect())]);
        let mut all: Vec<usize> = (1..=3)
            .flat_map(|i| shard(g.clone(), i, 3))
            .map(|p| p.index)
            .collect();
        all.sort();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
        assert!(parse_shard("0/3").is_err() && parse_shard("4/3").is_err());
        assert_eq!(parse_shard("2/3"), Ok((2, 3)));
    }
}
