//! `simctl test`: shipped experiments match their golden records; a model change is
//! caught with a readable diff and accepted with `--bless`.

use std::path::Path;
use std::process::Command;

use crate::common::{repo, temp_dir, Scratch};

fn simctl(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_simctl"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_shipped_experiment_matches_its_golden_record() {
    let (code, stdout, stderr) = simctl(&["test", "--jobs", "2"], &repo(""));
    assert_eq!(code, 0, "simctl test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

/// A copy of the quickstart, its topology and golden record in a scratch tree.
fn scratch_copy(name: &str) -> Scratch {
    let root = temp_dir(name);
    std::fs::create_dir_all(root.join("experiments/golden")).unwrap();
    std::fs::create_dir_all(root.join("topologies")).unwrap();
    for f in [
        "experiments/quickstart.toml",
        "experiments/golden/quickstart.json",
        "topologies/seed-26-hosts.toml",
    ] {
        std::fs::copy(repo(f), root.join(f)).unwrap();
    }
    root
}

#[test]
fn a_changed_default_fails_with_a_diff_and_bless_accepts_it() {
    let root = scratch_copy("bless");
    let (code, out, err) = simctl(&["test", "experiments"], &root);
    assert_eq!(code, 0, "the copy should pass as shipped:\n{out}\n{err}");

    // Halve the query nodes' concurrent read tasks, as a changed Milvus default would.
    let exp = root.join("experiments/quickstart.toml");
    let text = std::fs::read_to_string(&exp).unwrap().replace(
        "[milvus]\n",
        "[milvus]\n\"queryNode.scheduler.maxReadConcurrentRatio\" = 0.5\n",
    );
    std::fs::write(&exp, text).unwrap();
    let (code, out, _) = simctl(&["test", "experiments"], &root);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("changed"), "{out}");
    assert!(
        out.contains("requests.search.p99_ms:"),
        "the diff should name p99: {out}"
    );
    assert!(
        out.contains("%)"),
        "the diff should give relative changes: {out}"
    );

    let (code, out, _) = simctl(&["test", "--bless", "experiments"], &root);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("blessed") && out.contains("requests.search.p99_ms:"),
        "{out}"
    );
    let (code, out, _) = simctl(&["test", "experiments"], &root);
    assert_eq!(code, 0, "after --bless the suite passes:\n{out}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn digests_do_not_depend_on_the_number_of_jobs_and_junit_is_valid_xml() {
    let root = scratch_copy("jobs");
    // A second experiment so that two jobs really run side by side.
    let text = std::fs::read_to_string(root.join("experiments/quickstart.toml"))
        .unwrap()
        .replace("name = \"quickstart\"", "name = \"quickstart-seed2\"")
        .replace("seed = 1", "seed = 2");
    std::fs::write(root.join("experiments/quickstart-seed2.toml"), text).unwrap();
    simctl(&["test", "--bless", "--jobs", "1", "experiments"], &root);
    let one = std::fs::read(root.join("experiments/golden/quickstart-seed2.json")).unwrap();
    simctl(&["test", "--bless", "--jobs", "2", "experiments"], &root);
    let two = std::fs::read(root.join("experiments/golden/quickstart-seed2.json")).unwrap();
    assert_eq!(
        one, two,
        "golden records differ between --jobs 1 and --jobs 2"
    );

    let (code, xml, _) = simctl(
        &["test", "--format", "junit", "--jobs", "2", "experiments"],
        &root,
    );
    assert_eq!(code, 0);
    let doc =
        roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("invalid XML: {e}\n{xml}"));
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 2);
    assert!(cases
        .iter()
        .any(|c| c.attribute("name") == Some("quickstart-seed2")));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn with_another_profile_only_assertions_are_checked_and_bless_is_refused() {
    let root = scratch_copy("profile");
    let reference = std::fs::read_to_string(repo("profiles/reference.toml")).unwrap();
    std::fs::create_dir_all(root.join("profiles")).unwrap();
    // The reference profile as a file: same costs, yet the manifest names the file, so
    // the digests could never match; the golden record is not compared at all.
    std::fs::write(root.join("profiles/same.toml"), &reference).unwrap();
    let (code, out, err) = simctl(
        &["test", "--profile", "profiles/same.toml", "experiments"],
        &root,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("2 assertions held"), "{out}");
    assert!(out.contains("assertions only"), "{out}");
    assert!(err.contains("reference profile"), "{err}");

    // A machine ten times slower per core: the query nodes saturate and the
    // experiment's own assertion catches it.
    let slow = reference.replace("ghz = 3.704", "ghz = 37.04");
    assert_ne!(slow, reference);
    std::fs::write(root.join("profiles/slow.toml"), slow).unwrap();
    let (code, out, _) = simctl(
        &["test", "--profile", "profiles/slow.toml", "experiments"],
        &root,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("assertion failed") && out.contains("saturated"),
        "{out}"
    );

    // Golden records are never blessed with another profile.
    let golden = std::fs::read(root.join("experiments/golden/quickstart.json")).unwrap();
    let (code, _, err) = simctl(
        &[
            "test",
            "--bless",
            "--profile",
            "profiles/slow.toml",
            "experiments",
        ],
        &root,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--bless") && err.contains("--profile"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(root.join("experiments/golden/quickstart.json")).unwrap(),
        golden
    );

    // A broken profile is bad input with its location.
    std::fs::write(root.join("profiles/bad.toml"), "[machine\n").unwrap();
    let (code, _, err) = simctl(
        &["test", "--profile", "profiles/bad.toml", "experiments"],
        &root,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.toml"), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
}
