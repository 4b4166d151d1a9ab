//! `simctl sweep`.

use std::io::IsTerminal;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use super::{EXIT_BAD_INPUT, EXIT_OK};
use crate::calibrate::profile::ProfileChoice;
use crate::sweep;

#[derive(clap::Args)]
pub struct SweepArgs {
    /// The experiment file (TOML); not needed with --merge.
    pub experiment: Option<PathBuf>,
    /// Vary a key over values, e.g. --vary workload.search_qps=500,1000,2000 or
    /// --vary seeds=1,2,3. Repeatable; overrides the [sweep] entry of the same key.
    #[arg(long, value_name = "KEY=V1,V2,...")]
    pub vary: Vec<String>,
    /// Override a scalar of the experiment for every point (as for `run`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Points run in parallel [default: the number of cores].
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Output directory [default: runs/<experiment name>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run only the I-th of N deterministic slices of the grid (1-based), e.g. for a
    /// Slurm array or a Kubernetes indexed job; merge afterwards with --merge.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Rebuild points.parquet from the point directories under these sweep outputs
    /// (written into --out, default the first directory).
    #[arg(long, value_name = "DIR", num_args = 1..)]
    pub merge: Vec<PathBuf>,
    /// Calibration profile for the cost model, written by `simctl calibrate`
    /// [default: the built-in reference profile].
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn sweep(a: SweepArgs) -> i32 {
    if !a.merge.is_empty() {
        let out = a.out.clone().unwrap_or_else(|| a.merge[0].clone());
        return match sweep::write_index(&a.merge, &out) {
            Ok(n) => {
                println!(
                    "merged {n} points into {}",
                    out.join("points.parquet").display()
                );
                EXIT_OK
            }
            Err(e) => {
                eprintln!("error: {e}\n  hint: give the output directories of every shard");
                EXIT_BAD_INPUT
            }
        };
    }
    let Some(experiment) = a.experiment else {
        eprintln!("error: give an experiment to sweep, or --merge DIR...");
        return EXIT_BAD_INPUT;
    };
    // Validate the base experiment (and read its [sweep] table) before running anything.
    let exp = match crate::run::prepare(&experiment, &a.sets) {
        Ok((exp, _)) => exp,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    let axes = match sweep::axes(&exp.sweep, &a.vary) {
        Ok(x) => x,
        Err(e) => {
            eprintln!(
                "{}: error: {e}\n  hint: add a [sweep] table or --vary KEY=v1,v2",
                experiment.display()
            );
            return EXIT_BAD_INPUT;
        }
    };
    let profile = match &a.profile {
        Some(path) => match ProfileChoice::load(path) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                return EXIT_BAD_INPUT;
            }
        },
        None => ProfileChoice::reference(),
    };
    let mut points = sweep::grid(&axes);
    let total = points.len();
    if let Some(s) = &a.shard {
        match sweep::parse_shard(s) {
            Ok((i, n)) => points = sweep::shard(points, i, n),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_BAD_INPUT;
            }
        }
    }
    // Check every point's inputs first, so a bad value fails before hours of running.
    for p in &points {
        let mut sets = a.sets.clone();
        sets.extend(p.sets());
        if let Err(e) = crate::run::prepare(&experiment, &sets) {
            eprintln!("point {} ({}):\n{e}", p.index, p.sets().join(" "));
            return EXIT_BAD_INPUT;
        }
    }
    let out = a
        .out
        .unwrap_or_else(|| PathBuf::from("runs").join(&exp.name));
    let jobs = a.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let bar = (!a.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(points.len() as u64);
        b.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} points  {elapsed} elapsed, ETA {eta}",
            )
            .expect("valid template"),
        );
        b
    });
    let started = std::time::Instant::now();
    let failures = sweep::run_points(&experiment, &a.sets, &profile, &points, &out, jobs, &|_| {
        if let Some(b) = &bar {
            b.inc(1);
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for (p, e) in &failures {
        eprintln!("point {} ({}) failed: {e}", p.index, p.sets().join(" "));
    }
    if !failures.is_empty() {
        return EXIT_BAD_INPUT;
    }
    let wall = started.elapsed().as_secs_f64();
    if a.shard.is_some() {
        println!(
            "ran {} of {total} points into {} in {wall:.1} s ({jobs} jobs); when every shard is done: simctl sweep --merge {}",
            points.len(),
            out.display(),
            out.display()
        );
        return EXIT_OK;
    }
    match sweep::write_index(std::slice::from_ref(&out), &out) {
        Ok(n) => {
            println!(
                "ran {n} points in {wall:.1} s ({jobs} jobs): {}",
                out.join("points.parquet").display()
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_BAD_INPUT
        }
    }
}
