//! `simctl calibrate` writes a profile that `simctl run --profile` accepts and records.

use std::process::Command;

use crate::common::{repo, temp_dir};

#[test]
fn a_quick_calibration_feeds_a_run_and_lands_in_its_manifest() {
    let dir = temp_dir("calibrate");
    let profile = dir.join("p.toml");
    let simctl = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_simctl"))
            .args(args)
            .current_dir(repo(""))
            .output()
            .expect("simctl starts");
        assert!(
            out.status.success(),
            "simctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let said = simctl(&["calibrate", "--quick", "--out", profile.to_str().unwrap()]);
    assert!(said.contains("read bandwidth"), "{said}");
    // The wide HNSW graph is measured, and its searches cost more per visited node
    // than the 128-dim graphs' (a 3 KB vector against 512 bytes).
    let written = simctl::calibrate::profile::Profile::parse(
        &profile,
        &std::fs::read_to_string(&profile).unwrap(),
    )
    .unwrap();
    assert_eq!(written.hnsw.wide_dim, Some(768));
    let wide = written.hnsw.wide_ns_per_visited_by_rows();
    let narrow = written.hnsw.ns_per_visited_by_rows();
    assert!(wide[0].1 > narrow[0].1, "{wide:?} against {narrow:?}");
    let run = dir.join("run");
    simctl(&[
        "run",
        "experiments/quickstart.toml",
        "--profile",
        profile.to_str().unwrap(),
        "--set",
        "duration=15s",
        // A tenth of the load: a profile measured on a busy machine must not
        // saturate the cluster and fail the experiment's own assertions.
        "--set",
        "workload.search_qps=100",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["calibration_profile"]["source"], "file");
    assert_eq!(manifest["calibration_profile"]["quick"], true);
    let inputs = manifest["inputs"].as_array().unwrap();
    assert!(inputs
        .iter()
        .any(|i| i["role"] == "calibration_profile" && i["sha256"].as_str().unwrap().len() == 64));
    let _ = std::fs::remove_dir_all(&dir);
}
