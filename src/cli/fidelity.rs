//! `simctl fidelity`.

use std::path::{Path, PathBuf};

use super::{EXIT_BAD_INPUT, EXIT_OK};
use crate::calibrate::profile::ProfileChoice;
use crate::fidelity::{predict, Options};

/// The switches that bring back an earlier model's prediction.
pub struct Switches {
    pub model_server_work: bool,
    pub calibrated_bandwidth: bool,
    pub steady_server_work: bool,
    pub tick_phase_ms: Option<f64>,
}

pub fn fidelity(
    results: &Path,
    profile: Option<PathBuf>,
    topology: PathBuf,
    client_overhead_ms: Option<f64>,
    switches: Switches,
    out: Option<PathBuf>,
) -> i32 {
    if let Some(ms) = client_overhead_ms.filter(|ms| !(ms.is_finite() && *ms >= 0.0)) {
        eprintln!(
            "error: --client-overhead-ms {ms} is not a duration\n  hint: give milliseconds, 0 or more, e.g. 0.4"
        );
        return EXIT_BAD_INPUT;
    }
    // The cases run with Milvus's defaults: the phase falls within one default interval.
    let interval_ms = crate::fidelity::tick_interval_ms();
    if let Some(ms) = switches
        .tick_phase_ms
        .filter(|ms| !(ms.is_finite() && (0.0..interval_ms).contains(ms)))
    {
        eprintln!(
            "error: --tick-phase-ms {ms} is not within one time-tick interval\n  hint: give milliseconds from 0 up to (not including) proxy.timeTickInterval, {interval_ms} ms, e.g. 100"
        );
        return EXIT_BAD_INPUT;
    }
    // Without --profile: the profile the results file's own calibration names, else
    // the built-in reference (fidelity::predict decides).
    let profile = match profile {
        Some(path) => match ProfileChoice::load(&path) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("{e}");
                return EXIT_BAD_INPUT;
            }
        },
        None => None,
    };
    let report = match predict(
        results,
        Options {
            topology,
            profile,
            client_overhead_ms,
            model_server_work: switches.model_server_work,
            calibrated_bandwidth: switches.calibrated_bandwidth,
            steady_server_work: switches.steady_server_work,
            tick_phase_ms: switches.tick_phase_ms,
        },
    ) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    print!("{}", report.text());
    if let Some(out) = out {
        let text = if out.extension().is_some_and(|x| x == "csv") {
            report.csv()
        } else {
            let mut s =
                serde_json::to_string_pretty(&report.json()).expect("JSON values serialise");
            s.push('\n');
            s
        };
        if let Err(e) = std::fs::write(&out, text) {
            eprintln!(
                "{}: error: cannot write the table: {e}\n  hint: choose another --out file",
                out.display()
            );
            return EXIT_BAD_INPUT;
        }
    }
    EXIT_OK
}
