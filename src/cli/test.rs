//! `simctl test`.

use std::path::{Path, PathBuf};

use super::{EXIT_ASSERTION_FAILED, EXIT_BAD_INPUT, EXIT_OK};
use crate::calibrate::profile::ProfileChoice;
use crate::regress::{self, Outcome};

pub fn test(
    paths: Vec<PathBuf>,
    bless: bool,
    jobs: Option<usize>,
    junit: bool,
    profile: Option<&Path>,
) -> i32 {
    let profile = match profile.map(ProfileChoice::load).transpose() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    let paths = if paths.is_empty() {
        vec![PathBuf::from("experiments")]
    } else {
        paths
    };
    let files = match regress::collect(&paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}\n  hint: name experiment files or directories holding them");
            return EXIT_BAD_INPUT;
        }
    };
    let jobs = jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let mode = match &profile {
        Some(p) => {
            // On stderr, so JUnit on stdout stays well-formed.
            eprintln!(
                "profile {}\n  golden records pin the built-in reference profile; with this one every \
cost differs, so only [[assert]] entries are checked",
                p.describe()
            );
            regress::Profile::Other(p)
        }
        None => regress::Profile::Reference,
    };
    let started = std::time::Instant::now();
    // People read the lines as cases finish; JUnit goes to stdout at the end.
    let reports = regress::run_suite(&files, bless, mode, jobs, &|r| {
        let line = regress::describe(r);
        if junit {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    });
    let failed = reports.iter().filter(|r| !r.passed()).count();
    let summary = format!(
        "{} passed, {failed} failed ({} experiments, {jobs} jobs, {:.1} s){}",
        reports.len() - failed,
        reports.len(),
        started.elapsed().as_secs_f64(),
        if profile.is_some() {
            "; assertions only"
        } else {
            ""
        }
    );
    if junit {
        print!("{}", regress::junit(&reports));
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    if reports
        .iter()
        .any(|r| matches!(r.outcome, Outcome::BadInput(_)))
    {
        EXIT_BAD_INPUT
    } else if failed > 0 {
        EXIT_ASSERTION_FAILED
    } else {
        EXIT_OK
    }
}
