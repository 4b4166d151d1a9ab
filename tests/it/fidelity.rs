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
