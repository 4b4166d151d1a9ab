//! The `simctl` command line. Definitions live here; the work lives in the library.

mod calibrate;
mod compare;
mod explain;
mod fidelity;
mod import_stack;
mod run;
mod sweep;
mod test;
mod validate;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Exit codes (README "Exit codes").
pub const EXIT_OK: i32 = 0;
pub const EXIT_ASSERTION_FAILED: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;

#[derive(Parser)]
#[command(
    name = "simctl",
    version,
    about = "Deterministic discrete-event simulator of a Milvus 2.3 cluster on the hardware you plan to buy",
    long_about = "simctl plays a Milvus 2.3 cluster forward in simulated time on a topology of hosts you describe, \
and reports what its users would see: latency, throughput, errors, memory headroom.\n\n\
Exit codes: 0 ok; 1 the run finished but an [[assert]] of the experiment failed; 2 bad input."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run an experiment and write its results (summary.json, Parquet tables, manifest, perf).
    Run {
        /// The experiment file (TOML).
        experiment: PathBuf,
        /// Output directory; replaced atomically when the run succeeds [default: runs/<experiment name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed for every random stream (overrides the experiment's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Override a scalar of the experiment, e.g. --set workload.search_qps=2000 or
        /// --set milvus.proxy.maxTaskNum=512. Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Calibration profile for the cost model, written by `simctl calibrate`
        /// [default: the built-in reference profile].
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
        /// No progress display and no summary on the terminal.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Check topologies and experiments without running them.
    Validate {
        /// Topology or experiment files (TOML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run experiments as regression tests: assertions plus golden records
    /// (experiments/golden/<name>.json). Exit 1 when any fails or changed.
    Test {
        /// Experiment files or directories of them [default: experiments].
        paths: Vec<PathBuf>,
        /// Write the golden records anew and print what changed.
        #[arg(long)]
        bless: bool,
        /// Experiments run in parallel [default: the number of cores].
        #[arg(long)]
        jobs: Option<usize>,
        /// `text` (default) or `junit` (JUnit XML on stdout, progress on stderr).
        #[arg(long, default_value = "text", value_parser = ["text", "junit"])]
        format: String,
        /// Calibration profile for the cost model. Golden records pin the built-in
        /// reference profile, so with another one every cost differs by design: only
        /// the experiments' [[assert]] entries are checked (and --bless is refused).
        #[arg(long, value_name = "FILE", conflicts_with = "bless")]
        profile: Option<PathBuf>,
    },
    /// Run an experiment over a grid of values (its [sweep] table and/or --vary), in
    /// parallel, into a Hive-partitioned dataset with points.parquet as its index.
    Sweep(sweep::SweepArgs),
    /// Show the headline figures of runs and sweep points side by side, best marked.
    Compare {
        /// Output directories of `simctl run` or `simctl sweep`.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        #[arg(long, default_value = "table", value_parser = ["table", "csv", "json", "markdown"])]
        format: String,
    },
    /// Show hosts, classes, labels, where every service lands, the start order with a
    /// cold-start estimate and, for an experiment, how the collection is laid out and
    /// what a search costs.
    Explain {
        /// A topology or experiment file (TOML).
        file: PathBuf,
        /// Also write Graphviz (DOT) of hosts, services, placement and start-order
        /// dependencies to this file (render with `dot -Tsvg FILE -o cluster.svg`).
        #[arg(long, value_name = "FILE")]
        dot: Option<PathBuf>,
        /// Calibration profile for the cost estimates [default: the built-in reference].
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
    },
    /// Write a topology from Docker stack files (compose v3) and a hosts file: the
    /// services, their placement, restart policies, health checks and host-mode ports.
    /// The nginx.conf and milvus.yaml the stack mounts give the experiment settings
    /// [nginx] and [milvus] (--experiment-out). Keys the topology does not model are
    /// listed on stderr and atop the output.
    ImportStack {
        /// Stack files (YAML), in the order they are deployed.
        #[arg(required = true)]
        stacks: Vec<PathBuf>,
        /// A topology file with the classes and hosts (its services, if any, are replaced).
        #[arg(long)]
        hosts: PathBuf,
        /// The topology to write.
        #[arg(long)]
        out: PathBuf,
        /// A configuration file the stack mounts (nginx.conf, milvus.yaml), read instead
        /// of every mount whose source has the same file name: for when the stack's
        /// path does not exist here. Repeatable.
        #[arg(long = "config", value_name = "FILE")]
        configs: Vec<PathBuf>,
        /// Also write the settings of the mounted configuration files as an experiment
        /// fragment: [nginx] and [milvus] tables, each value with its file and line.
        #[arg(long, value_name = "FILE")]
        experiment_out: Option<PathBuf>,
    },
    /// Predict every case a real Milvus standalone was measured on (a results file of
    /// experiments/fidelity/run.sh) and print measured, predicted and their ratio case
    /// by case, with the geometric-mean error per figure.
    Fidelity {
        /// The harness's results file (JSON, schema simctl-fidelity-results/1).
        results: PathBuf,
        /// Calibration profile for the cost model [default: the profile the harness
        /// calibrated before the run (`harness.py --calibrate`), where the results file
        /// names one, else the built-in reference].
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
        /// The standalone topology the cases run on; its host gets the measured
        /// machine's cores and memory.
        #[arg(
            long,
            value_name = "FILE",
            default_value = "topologies/standalone.toml"
        )]
        topology: PathBuf,
        /// Client-side cost per search (SDK work and the loopback RPC) for every case,
        /// instead of the value the results file's client-overhead records give; also
        /// the client's CPU per search on the server's cores.
        #[arg(long, value_name = "MS")]
        client_overhead_ms: Option<f64>,
        /// Predict with the model's per-search server work (the reference machine's,
        /// scaled by the profile's clock) instead of the run's own, measured on its
        /// 100-row searches; no case is then carried to its client's speed.
        #[arg(long)]
        model_server_work: bool,
        /// Predict every measurement with the calibration's memory bandwidth, instead of
        /// following the memory probes around each (a results file calibrated around its
        /// run, with speed probes).
        #[arg(long)]
        calibrated_bandwidth: bool,
        /// Predict every search case with the run's per-search server work and client
        /// CPU as its 100-row searches measured them, and every insert with the insert
        /// knobs, instead of carried to the speed at which the harness's own client ran
        /// that case or insert (uncontended ones).
        #[arg(long)]
        steady_server_work: bool,
        /// Predict every case with rootcoord's own time-tick loop this many milliseconds
        /// after the proxy's reports (0 up to proxy.timeTickInterval) and no stale
        /// ticks. It decides whether a closed-loop Strong search waits one time tick or
        /// two [default: each Strong case's from the harness's tick probe before it
        /// (measure.py tick_age), where the results file has them; else 0, the youngest
        /// ticks]
        #[arg(long, value_name = "MS")]
        tick_phase_ms: Option<f64>,
        /// Also write the table to FILE: JSON, or CSV when FILE ends in .csv.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Measure this machine with the real vector kernels and write a calibration profile
    /// for the cost model (`simctl run --profile FILE` uses it).
    Calibrate {
        /// Where to write the profile (TOML), e.g. profiles/mybox.toml.
        #[arg(long)]
        out: PathBuf,
        /// Smaller data and shorter rounds: under a minute on two cores, less precise.
        #[arg(long)]
        quick: bool,
        /// Most threads of the bandwidth measurement [default: the number of cores].
        #[arg(long)]
        threads: Option<usize>,
        /// Calibrate this many times and keep each figure's fastest run: on a machine
        /// shared with other work, any run can be slowed, never sped up.
        #[arg(long, default_value_t = 1)]
        runs: usize,
    },
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            experiment,
            out,
            seed,
            sets,
            profile,
            quiet,
        } => run::run(&experiment, out, seed, sets, profile, quiet),
        Command::Validate { files } => validate::validate(&files),
        Command::Explain { file, dot, profile } => {
            explain::explain(&file, dot.as_deref(), profile.as_deref())
        }
        Command::ImportStack {
            stacks,
            hosts,
            out,
            configs,
            experiment_out,
        } => import_stack::import_stack(&stacks, &hosts, &out, &configs, experiment_out.as_deref()),
        Command::Calibrate {
            out,
            quick,
            threads,
            runs,
        } => calibrate::calibrate(&out, quick, threads, runs),
        Command::Fidelity {
            results,
            profile,
            topology,
            client_overhead_ms,
            model_server_work,
            calibrated_bandwidth,
            steady_server_work,
            tick_phase_ms,
            out,
        } => fidelity::fidelity(
            &results,
            profile,
            topology,
            client_overhead_ms,
            fidelity::Switches {
                model_server_work,
                calibrated_bandwidth,
                steady_server_work,
                tick_phase_ms,
            },
            out,
        ),
        Command::Sweep(args) => sweep::sweep(args),
        Command::Compare { runs, format } => compare::compare(&runs, &format),
        Command::Test {
            paths,
            bless,
            jobs,
            format,
            profile,
        } => test::test(paths, bless, jobs, format == "junit", profile.as_deref()),
    }
}

/// Whether a TOML file is an experiment (it names a topology) rather than a topology.
pub(crate) fn is_experiment(path: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    match text.parse::<toml::Table>() {
        Ok(t) => {
            t.contains_key("topology") || t.contains_key("workload") || t.contains_key("collection")
        }
        // Unparseable: judge by the keys and tables that start lines, so the syntax
        // error is reported with the right kind of file in its hint.
        Err(_) => text.lines().map(str::trim_start).any(|l| {
            l.starts_with("topology")
                || l.starts_with("[workload]")
                || l.starts_with("[collection]")
        }),
    }
}
