//! `simctl fidelity` on the harness's example results: it runs, prints a row per
//! measured figure of every case, and every ratio is finite. Accuracy is reported
//! (README "How close is simctl to reality"), not asserted.

use std::process::Command;

use crate::common::{repo, temp_dir};

const QUICK: &str = "experiments/fidelity/results-quick-example.json";

fn simctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_simctl"))
        .args(args)
        .current_dir(repo(""))
        .output()
        .expect("simctl starts")
}

#[test]
fn the_quick_example_gets_a_row_per_case_with_finite_ratios() {
    let out_dir = temp_dir("fidelity-quick");
    let json = out_dir.join("table.json");
    let out = simctl(&["fidelity", QUICK, "--out", json.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo(QUICK)).unwrap()).unwrap();
    let table: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = table["rows"].as_array().unwrap();
    for case in results["cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        for figure in ["search_p50_ms", "search_qps"] {
            assert!(
                rows.iter()
                    .any(|r| r["case"] == id && r["figure"] == figure),
                "no {figure} row for {id}"
            );
        }
        assert!(stdout.contains(id), "the printed table lacks {id}");
    }
    for kind in ["insert_rows_per_s", "index_build_s"] {
        assert!(rows.iter().any(|r| r["figure"] == kind), "no {kind} row");
    }
    for r in rows {
        let ratio = r["ratio"].as_f64().unwrap_or(f64::NAN);
        assert!(ratio.is_finite() && ratio > 0.0, "ratio of {r}");
    }
    for m in table["geomean"]["all"].as_array().unwrap() {
        assert!(m["error"].as_f64().unwrap().is_finite(), "{m}");
    }
    assert!(stdout.contains("error x"), "{stdout}");

    // The same inputs give the same table, byte for byte; CSV has a line per row.
    let again = simctl(&["fidelity", QUICK]);
    assert_eq!(again.stdout, out.stdout);
    let csv = out_dir.join("table.csv");
    let out = simctl(&["fidelity", QUICK, "--out", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let csv = std::fs::read_to_string(csv).unwrap();
    assert_eq!(csv.lines().count(), rows.len() + 1);
}

#[test]
fn bad_results_files_are_located_errors() {
    let dir = temp_dir("fidelity-bad");
    let not_json = dir.join("broken.json");
    std::fs::write(
        &not_json,
        "{\"schema\": \"simctl-fidelity-results/1\",\n  \"cases\": [}\n",
    )
    .unwrap();
    let wrong_schema = dir.join("other.json");
    std::fs::write(&wrong_schema, "{\"schema\": \"something-else/2\"}\n").unwrap();
    for (file, message) in [
        (not_json.to_str().unwrap().to_string(), ":2:"),
        (wrong_schema.to_str().unwrap().to_string(), "schema"),
        ("no-such-results.json".to_string(), "cannot read"),
    ] {
        let out = simctl(&["fidelity", &file]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
        assert!(
            stderr.contains(&file) && stderr.contains(message),
            "{stderr}"
        );
        assert!(stderr.contains("hint:"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// Nothing is fitted case by case: the fidelity experiments and scripts override no
/// Milvus key, failover timing or model constant, the command's only knob is the
/// documented client overhead (measured by the harness, never set in the folder), and
/// the fidelity code names no case or data set of a results file.
#[test]
fn nothing_in_experiments_fidelity_is_fitted_case_by_case() {
    let dir = repo("experiments/fidelity");
    let mut checked = 0;
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(ext) = path.extension().map(|e| e.to_string_lossy().into_owned()) else {
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        checked += 1;
        match ext.as_str() {
            "toml" => {
                let t: toml::Table = text.parse().unwrap();
                for table in ["milvus", "failover", "test"] {
                    if t.contains_key(table) {
                        problems.push(format!("{name}: [{table}] overrides a default"));
                    }
                }
                if let Some(w) = t.get("workload").and_then(|w| w.as_table()) {
                    if w.contains_key("think_time") {
                        problems.push(format!("{name}: [workload] think_time is set by hand"));
                    }
                }
            }
            "sh" | "py" => {
                for bad in ["--set", "--client-overhead-ms", "simctl fidelity"] {
                    if text.contains(bad) {
                        problems.push(format!("{name}: passes {bad}"));
                    }
                }
            }
            "json" => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                let keys = ["override", "overrides", "fudge", "fitted", "knobs"];
                let mut stack = vec![&v];
                while let Some(x) = stack.pop() {
                    match x {
                        serde_json::Value::Object(m) => {
                            for (k, v) in m {
                                if keys.contains(&k.as_str()) {
                                    problems.push(format!("{name}: key {k:?}"));
                                }
                                stack.push(v);
                            }
                        }
                        serde_json::Value::Array(a) => stack.extend(a),
                        _ => {}
                    }
                }
            }
            _ => checked -= 1,
        }
    }
    assert!(
        checked >= 5,
        "the fidelity folder holds its harness and examples"
    );
    // The command builds every case from the case's own fields: no case id or data
    // set name of a results file appears in its code.
    let code = std::fs::read_to_string(repo("src/fidelity.rs")).unwrap();
    for file in ["results-quick-example.json", "results-full-example.json"] {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
        for case in v["cases"].as_array().unwrap() {
            for key in ["id", "dataset"] {
                let s = case[key].as_str().unwrap();
                if code.contains(s) {
                    problems.push(format!("src/fidelity.rs names {key} {s:?}"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "per-case overrides:\n{}",
        problems.join("\n")
    );
}
