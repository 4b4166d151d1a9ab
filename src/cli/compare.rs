//! `simctl compare`: headline figures of runs and sweep points side by side.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{EXIT_BAD_INPUT, EXIT_OK};
use crate::report::summary::lookup;

/// Which way is better for a figure.
#[derive(Clone, Copy, PartialEq)]
enum Better {
    Higher,
    Lower,
    Neither,
}

struct Row {
    label: String,
    values: Vec<Option<f64>>,
    better: Better,
    unit: &'static str,
}

/// Every summary under the arguments: a run directory, or a sweep's points.
fn load(args: &[PathBuf]) -> Result<Vec<(String, Value)>, String> {
    let mut out = Vec::new();
    for a in args {
        let read = |d: &Path| -> Result<Value, String> {
            let t = std::fs::read_to_string(d.join("summary.json"))
                .map_err(|e| format!("{}: {e}", d.display()))?;
            serde_json::from_str(&t)
                .map_err(|e| format!("{}: {e}", d.join("summary.json").display()))
        };
        if a.join("summary.json").is_file() {
            out.push((a.display().to_string(), read(a)?));
            continue;
        }
        let points = crate::sweep::find_points(a);
        if points.is_empty() {
            return Err(format!(
                "{} holds neither a run (summary.json) nor sweep points",
                a.display()
            ));
        }
        for p in points {
            let rel = p.strip_prefix(a).unwrap_or(&p).display().to_string();
            out.push((format!("{}/{rel}", a.display()), read(&p)?));
        }
    }
    Ok(out)
}

fn rows(runs: &[(String, Value)]) -> Vec<Row> {
    let fig = |path: &str, label: &str, better: Better, unit: &'static str| Row {
        label: label.to_string(),
        values: runs.iter().map(|(_, s)| lookup(s, path)).collect(),
        better,
        unit,
    };
    let mut rows = vec![
        fig("requests.search.qps", "search qps", Better::Higher, ""),
        fig(
            "requests.search.offered_qps",
            "offered qps",
            Better::Neither,
            "",
        ),
        fig("requests.search.p50_ms", "search p50", Better::Lower, "ms"),
        fig("requests.search.p95_ms", "search p95", Better::Lower, "ms"),
        fig("requests.search.p99_ms", "search p99", Better::Lower, "ms"),
        fig(
            "requests.search.failed",
            "failed searches",
            Better::Lower,
            "",
        ),
        fig("availability", "availability", Better::Higher, ""),
        fig("saturated", "saturated (1 = yes)", Better::Lower, ""),
        fig("acked_rows_lost", "acked rows lost", Better::Lower, ""),
    ];
    // Fault figures, when the runs have them: the longest error window of each run.
    let windows: Vec<Option<f64>> = runs
        .iter()
        .map(|(_, s)| {
            s["faults"].as_array().and_then(|f| {
                f.iter()
                    .filter_map(|x| x["error_window_s"].as_f64())
                    .reduce(f64::max)
            })
        })
        .collect();
    if windows.iter().any(Option::is_some) {
        rows.push(Row {
            label: "error window".into(),
            values: windows,
            better: Better::Lower,
            unit: "s",
        });
    }
    // Peak memory per host class: the fullest host of the class, as a share of its RAM.
    let mut classes: Vec<String> = runs
        .iter()
        .flat_map(|(_, s)| {
            s["hardware"]["classes"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.keys().cloned())
        })
        .collect();
    classes.sort();
    classes.dedup();
    for class in &classes {
        let values = runs
            .iter()
            .map(|(_, s)| {
                s["hosts"].as_object().and_then(|hosts| {
                    hosts
                        .values()
                        .filter(|h| h["class"] == json!(class))
                        .filter_map(|h| h["peak_memory_bytes"].as_f64())
                        .reduce(f64::max)
                        .map(|b| b / (1u64 << 30) as f64)
                })
            })
            .collect();
        let values: Vec<Option<f64>> = values;
        // Classes that run no simulated process would only add rows of zeros.
        if values.iter().any(|v| v.is_some_and(|x| x > 0.0)) {
            rows.push(Row {
                label: format!("peak memory, {class} host"),
                values,
                better: Better::Neither,
                unit: "GiB",
            });
        }
    }
    rows.push(fig("hardware.hosts", "hosts", Better::Lower, ""));
    rows.push(fig("hardware.cores", "cores", Better::Lower, ""));
    let mem: Vec<Option<f64>> = runs
        .iter()
        .map(|(_, s)| lookup(s, "hardware.memory_bytes").map(|b| b / (1u64 << 30) as f64))
        .collect();
    rows.push(Row {
        label: "memory".into(),
        values: mem,
        better: Better::Lower,
        unit: "GiB",
    });
    rows
}

/// Columns holding the best value of a row (all of them when tied), unless the row
/// has no direction or every value ties.
fn best(r: &Row) -> Vec<usize> {
    if r.better == Better::Neither {
        return Vec::new();
    }
    let vals: Vec<(usize, f64)> = r
        .values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|x| (i, x)))
        .collect();
    let pick = |a: f64, b: f64| {
        if r.better == Better::Higher {
            a > b
        } else {
            a < b
        }
    };
    let Some(bv) = vals
        .iter()
        .map(|x| x.1)
        .reduce(|acc, x| if pick(x, acc) { x } else { acc })
    else {
        return Vec::new();
    };
    let winners: Vec<usize> = vals
        .iter()
        .filter(|(_, v)| *v == bv)
        .map(|(i, _)| *i)
        .collect();
    if vals.len() < 2 || winners.len() == vals.len() {
        Vec::new()
    } else {
        winners
    }
}

fn fmt(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) if x.abs() >= 100.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.3}"),
    }
}

pub fn compare(args: &[PathBuf], format: &str) -> i32 {
    let runs = match load(args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "error: {e}\n  hint: give output directories of `simctl run` or `simctl sweep`"
            );
            return EXIT_BAD_INPUT;
        }
    };
    let rows = rows(&runs);
    let names: Vec<&str> = runs.iter().map(|(n, _)| n.as_str()).collect();
    match format {
        "json" => {
            let out: Vec<Value> = rows
                .iter()
                .map(|r| {
                    json!({
                        "figure": r.label,
                        "unit": r.unit,
                        "values": names.iter().zip(&r.values).map(|(n, v)| (n.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                        "best": best(r).into_iter().map(|i| names[i]).collect::<Vec<_>>(),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({ "runs": names, "figures": out }))
                    .expect("json")
            );
        }
        "csv" => {
            let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
            println!(
                "figure,unit,{}",
                names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(",")
            );
            for r in &rows {
                let vals: Vec<String> = r
                    .values
                    .iter()
                    .map(|v| v.map(|x| x.to_string()).unwrap_or_default())
                    .collect();
                println!("{},{},{}", quote(&r.label), r.unit, vals.join(","));
            }
        }
        _ => {
            let md = format == "markdown";
            let mut table: Vec<Vec<String>> = vec![std::iter::once("figure".to_string())
                .chain(names.iter().map(|n| n.to_string()))
                .collect()];
            for r in &rows {
                let b = best(r);
                let label = if r.unit.is_empty() {
                    r.label.clone()
                } else {
                    format!("{} ({})", r.label, r.unit)
                };
                let cells = r.values.iter().enumerate().map(|(i, v)| {
                    let s = fmt(*v);
                    if b.contains(&i) {
                        if md {
                            format!("**{s}**")
                        } else {
                            format!("{s} *")
                        }
                    } else {
                        s
                    }
                });
                table.push(std::iter::once(label).chain(cells).collect());
            }
            let widths: Vec<usize> = (0..table[0].len())
                .map(|c| {
                    table
                        .iter()
                        .map(|r| r[c].chars().count())
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            for (ri, row) in table.iter().enumerate() {
                let cells: Vec<String> = row
                    .iter()
                    .enumerate()
                    .map(|(c, s)| format!("{s:<w$}", w = widths[c]))
                    .collect();
                if md {
                    println!("| {} |", cells.join(" | "));
                    if ri == 0 {
                        println!(
                            "|{}|",
                            widths
                                .iter()
                                .map(|w| "-".repeat(w + 2))
                                .collect::<Vec<_>>()
                                .join("|")
                        );
                    }
                } else {
                    println!("{}", cells.join("  ").trim_end());
                }
            }
            if !md {
                println!("\n* best value of the row");
            }
        }
    }
    EXIT_OK
}
