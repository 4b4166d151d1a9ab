//! `simctl run`.

use std::io::IsTerminal;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use super::{EXIT_ASSERTION_FAILED, EXIT_BAD_INPUT, EXIT_OK};
use crate::calibrate::profile::ProfileChoice;
use crate::report::summary::lookup;

pub fn run(
    experiment: &std::path::Path,
    out: Option<PathBuf>,
    seed: Option<u64>,
    mut sets: Vec<String>,
    profile: Option<PathBuf>,
    quiet: bool,
) -> i32 {
    if let Some(s) = seed {
        sets.push(format!("seed={s}"));
    }
    let (mut exp, layout) = match crate::run::prepare(experiment, &sets) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    if let Some(path) = profile {
        match ProfileChoice::load(&path) {
            Ok(p) => exp.profile = p,
            Err(e) => {
                eprintln!("{e}");
                return EXIT_BAD_INPUT;
            }
        }
    }
    let out = out.unwrap_or_else(|| PathBuf::from("runs").join(&exp.name));
    let show = !quiet && std::io::stderr().is_terminal();
    let bar = if show {
        let b = ProgressBar::new(exp.duration.as_secs_f64().ceil() as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:30} simulated {pos}/{len} s  {msg}  ETA {eta}")
                .expect("valid template"),
        );
        Some(b)
    } else {
        None
    };
    let result = crate::run::simulate(&exp, layout, &mut |p| {
        if let Some(b) = &bar {
            b.set_position(p.sim_now.as_secs_f64() as u64);
            let rate = p.events as f64 / p.wall_seconds.max(1e-9);
            b.set_message(format!("{:.1} M events/s", rate / 1e6));
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let dir = match crate::run::write_outputs(&exp, &result, &out) {
        Ok(d) => d,
        Err(e) => {
            eprintln!(
                "{}: error: {e}\n  hint: choose another --out directory",
                out.display()
            );
            return EXIT_BAD_INPUT;
        }
    };
    if !quiet {
        print_summary(&exp.name, &result, &dir);
    }
    if result.assertions_passed {
        EXIT_OK
    } else {
        EXIT_ASSERTION_FAILED
    }
}

fn print_summary(name: &str, r: &crate::run::RunResult, dir: &std::path::Path) {
    let s = &r.summary;
    let f = |p: &str| lookup(s, p).unwrap_or(f64::NAN);
    println!(
        "simctl run {name}: {:.0} s simulated in {:.2} s of wall time ({:.1} M events/s)",
        f("sim_seconds"),
        r.wall_seconds,
        r.events as f64 / r.wall_seconds.max(1e-9) / 1e6
    );
    let offered = lookup(s, "requests.search.offered_qps")
        .map(|o| format!(" (offered {o:.0})"))
        .unwrap_or_default();
    println!(
        "  search: {:.0} requests, {:.0} ok, {:.0} failed, {:.0} incomplete; {:.1} qps{offered}",
        f("requests.search.count"),
        f("requests.search.ok"),
        f("requests.search.failed"),
        f("requests.search.incomplete"),
        f("requests.search.qps")
    );
    println!(
        "  latency: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
        f("requests.search.p50_ms"),
        f("requests.search.p95_ms"),
        f("requests.search.p99_ms")
    );
    if let Some(host) = s["busiest_host"].as_str() {
        println!(
            "  busiest host: {host} (mean CPU {:.0} %); saturated: {}",
            100.0 * lookup(s, &format!("hosts.{host}.cpu_util_mean")).unwrap_or(0.0),
            if f("saturated") == 1.0 { "YES" } else { "no" }
        );
    }
    if s["ingest"].is_object() {
        let n = |k: &str| lookup(s, k);
        let at = |k: &str| match n(k) {
            Some(t) => format!("{t:.0} s"),
            None => "not reached".to_string(),
        };
        println!(
            "  ingest: {} of {} rows acknowledged ({} failed) at {:.0} rows/s; all acked {}, sealed {}, flushed {}, indexed {}, loaded {}",
            n("ingest.rows").unwrap_or(0.0),
            n("ingest.rows_offered").unwrap_or(0.0),
            n("ingest.rows_failed").unwrap_or(0.0),
            n("ingest.rows_per_s").unwrap_or(0.0),
            at("ingest.acked_s"),
            at("ingest.sealed_s"),
            at("ingest.flushed_s"),
            at("ingest.indexed_s"),
            at("ingest.loaded_s"),
        );
        println!(
            "  segments: {} sealed, {} still growing; compaction merged {} into {} (done {}); {} at the end; {} index builds",
            n("segments.sealed").unwrap_or(0.0)
                - n("compaction.plans").unwrap_or(0.0),
            n("segments.growing_at_end").unwrap_or(0.0),
            n("compaction.segments_merged").unwrap_or(0.0),
            n("compaction.plans").unwrap_or(0.0),
            at("compaction.finished_s"),
            n("segments.final").unwrap_or(0.0),
            n("index.builds").unwrap_or(0.0),
        );
        if let Some(e) = s["ingest"]["error"].as_str() {
            println!("  ERROR: {e}");
        }
    }
    for fl in s["faults"].as_array().into_iter().flatten() {
        let num = |k: &str| fl[k].as_f64();
        let errors = match (num("first_error_s"), num("last_error_s")) {
            (Some(a), Some(b)) => format!(
                "errors {a:.1}-{b:.1} s ({:.1} s, {} failed)",
                b - a,
                fl["failed_requests"]
            ),
            _ => "no errors".to_string(),
        };
        let detected = num("detected_at_s")
            .map(|d| format!(", detected {d:.1} s"))
            .unwrap_or_default();
        let reloaded = match num("bytes_reloaded") {
            Some(b) if b > 0.0 => format!(", {:.1} GB reloaded", b / 1e9),
            _ => String::new(),
        };
        let inserts = match (
            num("failed_inserts"),
            num("first_insert_error_s"),
            num("last_insert_error_s"),
        ) {
            (Some(n), Some(a), Some(b)) if n > 0.0 => {
                format!(", {n} inserts failed {a:.1}-{b:.1} s")
            }
            _ => String::new(),
        };
        let recovered = match (num("recovered_at_s"), num("p99_ms_before")) {
            (Some(r), _) => format!(", p99 back at {r:.0} s"),
            // No searches before the fault: nothing to recover to.
            (None, None) => String::new(),
            (None, Some(_)) => ", p99 not back to the pre-fault level".to_string(),
        };
        println!(
            "  faults: {} at {:.0} s: {errors}{inserts}{detected}{reloaded}{recovered}",
            fl["label"].as_str().unwrap_or(""),
            num("at_s").unwrap_or(0.0)
        );
    }
    if let Some(a) = s["assertions"].as_array() {
        if !a.is_empty() {
            let passed = a.iter().filter(|x| x["passed"] == true).count();
            println!("  assertions: {passed}/{} passed", a.len());
            for x in a.iter().filter(|x| x["passed"] != true) {
                println!(
                    "    FAILED: {} (value {})",
                    x["expr"].as_str().unwrap_or(""),
                    x["value"]
                );
            }
        }
    }
    println!("  files: {}/{{summary.json, requests.parquet, timeseries.parquet, events.parquet, manifest.json, perf.json}}", dir.display());
}
