//! `simctl fidelity`: predictions for the cases a real Milvus standalone was measured
//! on (the harness in experiments/fidelity/ writes the results file), side by side
//! with the measurements.
//!
//! Each measured case becomes an experiment on the standalone topology, built only
//! from the case's own description (data set, index and its parameters, nq, topk,
//! concurrency, consistency) and the measured machine's cores and memory. Nothing is
//! fitted to a case: the model's constants are Milvus defaults, the calibration
//! profile, the server's per-search and per-byte insert work (measured on the
//! harness's own records, src/milvus/overheads.rs), and the client overhead, whose
//! value the harness measures on its own (see `ClientOverhead`). The measured
//! machine's conditions during each measurement are replayed, never its figures: the
//! others' CPU, the memory probes around it ([`bandwidth_scale`]) and how fast the
//! harness's own client ran its searches ([`ClientSpeed`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::calibrate::drift::{speed_change, SpeedChange};
use crate::calibrate::profile::ProfileChoice;
use crate::report::summary::lookup;
use crate::scenario::experiment::load_experiment_text;
use crate::scenario::load_topology;

/// The results schema this reads (experiments/fidelity/README.md).
pub const SCHEMA: &str = "simctl-fidelity-results/1";

/// Simulated length of a search case and its warm-up. At 20 s a Strong case at one
/// client still answers ~100 searches (one per 200 ms time tick).
const SEARCH_SECONDS: u64 = 20;
const SEARCH_WARMUP_SECONDS: u64 = 2;
/// Searches a simulated case must answer after its warm-up for a median and a rate;
/// the harness's own floor (`min_requests` of a full run). A case whose searches take
/// longer (FLAT at nq 100 on eight clients: seconds each) is simulated again over
/// twice the window, up to [`SEARCH_MAX_SECONDS`].
const SEARCH_MIN_ANSWERED: f64 = 50.0;
const SEARCH_MAX_SECONDS: u64 = 640;
/// Simulated length of an ingest case: long enough for the flush and the index build
/// of the harness's data sets (at most a few hundred thousand rows).
const INGEST_SECONDS: u64 = 1800;
/// How close the simulated others' CPU must come to the measured before the replay
/// stops looking (CaseContext::simulate): a hundredth of a core, four times the /proc
/// tick accounting's grain over the harness's shortest spans (a 100 Hz tick over 4 s
/// is 0.0025 cores).
const OTHERS_TOLERANCE_CORES: f64 = 0.01;
/// Simulations the replay tries beyond the first; the closest is kept if none is
/// within the tolerance (g(b) moves in steps where the server's threads come and go).
const OTHERS_MAX_REPLAYS: usize = 8;
/// The most runnable threads of others the replay gives a core (a build at -j64 on
/// two cores); beside a server that keeps a core busy all along the others' use only
/// approaches the cores as their threads grow.
const OTHERS_MAX_THREADS_PER_CORE: f64 = 32.0;

/// What a row compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Figure {
    /// Median search latency as the caller of `Collection.search` sees it, ms.
    SearchP50Ms,
    /// Searches per second of the closed-loop clients.
    SearchQps,
    /// Rows per second the server takes (the harness's `rows_per_s_rpc`).
    InsertRowsPerS,
    /// CreateIndex until every row is indexed, s.
    IndexBuildS,
    /// LoadCollection until the loading progress is 100 %, s.
    LoadS,
}

impl Figure {
    pub const ALL: [Figure; 5] = [
        Figure::SearchP50Ms,
        Figure::SearchQps,
        Figure::InsertRowsPerS,
        Figure::IndexBuildS,
        Figure::LoadS,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Figure::SearchP50Ms => "search_p50_ms",
            Figure::SearchQps => "search_qps",
            Figure::InsertRowsPerS => "insert_rows_per_s",
            Figure::IndexBuildS => "index_build_s",
            Figure::LoadS => "load_s",
        }
    }
}

/// One measured figure and its prediction.
#[derive(Clone, Debug)]
pub struct Row {
    pub case: String,
    pub figure: Figure,
    pub measured: f64,
    pub predicted: f64,
    /// Other processes used the measured machine's CPU during the measurement.
    pub contended: bool,
    /// Cores of CPU other processes used during the measurement (the record's
    /// `others_cores_mean`), which the prediction reproduced beside the simulated server.
    pub others_cores: f64,
    /// The others' runnable threads the prediction replayed them as: with these the
    /// simulated others used `others_cores` over the measured span (CaseContext::simulate).
    pub others_threads: f64,
    /// The cores the simulated others used with them over the simulated span (within a
    /// hundredth of `others_cores` once the replay found its threads; None where the
    /// span never ended).
    pub others_replayed: Option<f64>,
    /// The cores the real server and the harness's client used over the measurement
    /// (the record's `server_cpu_s` and `harness_cpu_s` over its wall time).
    pub server_cores: Option<f64>,
    /// The cores the simulated server and client used over the simulated span: where
    /// this is well above `server_cores`, the model spent more CPU than the server did
    /// and the replay gave the others more threads to get what they measured.
    pub server_replayed: Option<f64>,
    /// How much slower than its fastest the measured machine ran fixed work around the
    /// measurement ([`slowdown`]); None in results files without the speed probe.
    pub slowdown: Option<f64>,
    /// The memory bandwidth the measurement was predicted with, over the profile's
    /// ([`bandwidth_scale`]); None where the profile's was used.
    pub bandwidth_scale: Option<f64>,
    /// How slowly the harness's client ran: a search case's searches against the run's
    /// fastest ([`ClientSpeed`]), where the case's server work and client CPU were
    /// carried to it ([`ServerWork::for_case`]); an insert's rows against the quiet
    /// ingests the insert knobs were checked against ([`insert_client_speed`]). None
    /// where the records' own work, or the knobs, were used.
    pub client_speed: Option<f64>,
    /// Where rootcoord's time-tick loop fell after the proxy's reports in the case's
    /// prediction, ms: from the tick probe the harness took before it (its measured
    /// age of a tick less the model's at phase 0, [`tick_settings`]) or
    /// `--tick-phase-ms`; None: the experiments' default (0).
    pub tick_phase_ms: Option<f64>,
    /// The share of stale time ticks the case was predicted with, from the probe
    /// before it ([`TickProbe`]); None: none.
    pub stale_ticks: Option<f64>,
}

impl Row {
    pub fn ratio(&self) -> f64 {
        self.predicted / self.measured
    }
}

/// Geometric means of predicted/measured over the rows of one figure.
#[derive(Clone, Debug)]
pub struct Summary {
    pub figure: Figure,
    pub rows: usize,
    /// exp(mean ln r): the bias (1 is none).
    pub ratio: f64,
    /// exp(mean |ln r|): the typical factor off, either way (1 is exact).
    pub error: f64,
}

/// Client-side costs the simulation does not play: pymilvus building the request and
/// parsing the reply, and one loopback gRPC round trip less the server's CPU on it
/// (the server's side of every RPC is in its measured per-search work). All are
/// measured by the harness on their own (`client_overhead` records: request building
/// and parsing of a search of a 100-row collection per dim and nq; GetVersion round
/// trips and the server's CPU during them), never fitted to the cases. A closed-loop client spends it between two searches, so it
/// is each client's think time, and it adds to each search's latency.
#[derive(Clone, Debug)]
pub struct ClientOverhead {
    /// Per (dim, nq): milliseconds in all, the client's CPU per search (the harness
    /// process's CPU over the records' searches), and the record's client speed
    /// ([`ClientSpeed`]; None without the client's figures).
    pub measured: Vec<(u64, u64, f64, f64, Option<f64>)>,
    /// `--client-overhead-ms`: one value for every case instead.
    pub fixed_ms: Option<f64>,
}

impl ClientOverhead {
    fn from_results(results: &Value, speed: &ClientSpeed) -> ClientOverhead {
        let records = results["client_overhead"].as_array().cloned();
        let records = records.unwrap_or_default();
        // The loopback round trip less the server's own work on it (its CPU per
        // GetVersion, idle background removed): the server's side of an RPC is in
        // the measured per-search server work (src/milvus/overheads.rs).
        let rpc_ms = records
            .iter()
            .find(|r| r["kind"] == "get_version_rpc")
            .and_then(|r| {
                let rtt_ms = r["latency_ms_p50"].as_f64()?;
                let c = &r["contention"];
                let server_cpu_s = c["server_cpu_s"].as_f64().unwrap_or(0.0)
                    - c["server_cores_before"].as_f64().unwrap_or(0.0)
                        * c["wall_s"].as_f64().unwrap_or(0.0);
                let per_request_ms = server_cpu_s.max(0.0) / r["requests"].as_f64()? * 1e3;
                Some((rtt_ms - per_request_ms).max(0.0))
            })
            .unwrap_or(0.0);
        let measured = records
            .iter()
            .filter(|r| r["kind"] == "search_tiny_collection")
            .filter_map(|r| {
                let f = &r["figures"];
                let sdk_ms =
                    f["client_prepare_ms_p50"].as_f64()? + f["client_parse_ms_p50"].as_f64()?;
                // The harness process's CPU over those searches (its gRPC and Python
                // threads too), per search; more than its wall-clock share, as some
                // of it overlaps the server's work.
                let cpu_ms = r["contention"]["harness_cpu_s"]
                    .as_f64()
                    .zip(f["requests"].as_f64().filter(|&n| n > 0.0))
                    .map_or(sdk_ms, |(s, n)| s / n * 1e3);
                Some((
                    r["dim"].as_u64()?,
                    r["nq"].as_u64()?,
                    sdk_ms + rpc_ms,
                    cpu_ms,
                    speed.of(r),
                ))
            })
            .collect();
        ClientOverhead {
            measured,
            fixed_ms: None,
        }
    }

    /// The overhead of a search at `dim` and `nq`: the record with that dim and nq,
    /// else the nearest one (by nq first, then dim), else none.
    pub fn ms(&self, dim: u64, nq: u64) -> f64 {
        if let Some(ms) = self.fixed_ms {
            return ms;
        }
        self.nearest(dim, nq).map_or(0.0, |r| r.2)
    }

    /// The client's CPU per search at `dim` and `nq` (nearest record, as for
    /// [`ClientOverhead::ms`]): the harness's client runs on the server's machine, so
    /// this CPU is taken from the server's cores; `--client-overhead-ms` replaces it
    /// too. For a case whose client ran at `speed` ([`ClientSpeed::of`]), the record's
    /// carried to the run's fastest client and taken at the case's speed, as the
    /// server's work is ([`ServerWork::for_case`]); the record's as measured without a
    /// speed. CPU on the server's cores, never milliseconds added to the latency: the
    /// overhead added to it ([`ClientOverhead::ms`]) stays the record's.
    pub fn cpu_ms_at(&self, dim: u64, nq: u64, speed: Option<f64>) -> f64 {
        if let Some(ms) = self.fixed_ms {
            return ms;
        }
        self.nearest(dim, nq).map_or(0.0, |r| match (speed, r.4) {
            (Some(speed), Some(own)) => r.3 / own * speed,
            _ => r.3,
        })
    }

    fn nearest(&self, dim: u64, nq: u64) -> Option<&(u64, u64, f64, f64, Option<f64>)> {
        self.measured
            .iter()
            .min_by_key(|(d, n, ..)| (n.abs_diff(nq), d.abs_diff(dim)))
    }
}

/// How fast the measured machine ran the harness's own client: per dim, nq and topk,
/// the least client work per search (`client_prepare_ms_p50 + client_parse_ms_p50`:
/// pymilvus building the request and parsing the reply, the same Python for the same
/// dim, nq and topk) of any record in the run, the 100-row searches and the cases alike.
/// A record's speed is its client work over that fastest: 1 at the machine's best, 2
/// where the same Python took twice as long. On the quiet Xeon the client work of one
/// run's cases spread over 1.1-2.0 times its fastest (10th-90th percentile), and the
/// server's work moved with it: its Search RPC time between two runs of the same case
/// correlated with the client work at 0.87 (experiments/fidelity/README.md, step 6),
/// and the probe run's 100-row records, 3.78, 3.46 and 3.80 ms a search at nq 1, 10 and
/// 100 as measured (dim 128; its nq-1 record's client took 3.2 times its fastest), are
/// 1.20, 2.11 and 3.80 ms carried to the fastest. A measured condition of each record,
/// like the others' CPU. The client's work is a part of a case's measured latency
/// (0.06-0.44 ms of a one-query search's 1.3-400 ms in the committed files); it is
/// read only as this ratio, never added to a prediction (the latency overhead is the
/// 100-row records'), and the case's latency and rate are never read.
#[derive(Clone, Debug, Default)]
pub struct ClientSpeed {
    /// ((dim, nq, topk), least client ms per search).
    fastest: Vec<((u64, u64, u64), f64)>,
}

impl ClientSpeed {
    fn from_results(results: &Value) -> ClientSpeed {
        let mut fastest: Vec<((u64, u64, u64), f64)> = Vec::new();
        let overhead = results["client_overhead"].as_array().cloned();
        let cases = results["cases"].as_array().cloned();
        for r in overhead
            .unwrap_or_default()
            .iter()
            .filter(|r| r["kind"] == "search_tiny_collection")
            .chain(cases.unwrap_or_default().iter())
        {
            let Some((key, ms)) = Self::client_ms(r) else {
                continue;
            };
            match fastest.iter_mut().find(|f| f.0 == key) {
                Some(f) => f.1 = f.1.min(ms),
                None => fastest.push((key, ms)),
            }
        }
        ClientSpeed { fastest }
    }

    /// A record's (dim, nq, topk) and its client work per search, ms: where it answered
    /// searches without errors and carries the client's figures.
    fn client_ms(record: &Value) -> Option<((u64, u64, u64), f64)> {
        let f = &record["figures"];
        if f["requests"].as_f64().unwrap_or(0.0) <= 0.0 || f["errors"].as_f64().unwrap_or(0.0) > 0.0
        {
            return None;
        }
        let ms = f["client_prepare_ms_p50"].as_f64()? + f["client_parse_ms_p50"].as_f64()?;
        // The reply's parsing grows with topk as the request's building with dim and nq.
        let key = (
            record["dim"].as_u64()?,
            record["nq"].as_u64()?,
            record["topk"].as_u64()?,
        );
        Some((key, ms)).filter(|(_, ms)| ms.is_finite() && *ms > 0.0)
    }

    /// The record's client work over the run's fastest at its dim, nq and topk (at
    /// least 1); None where it lacks the client's figures.
    pub fn of(&self, record: &Value) -> Option<f64> {
        let (key, ms) = Self::client_ms(record)?;
        let fastest = self.fastest.iter().find(|f| f.0 == key)?.1;
        Some(ms / fastest)
    }
}

/// Milvus's own CPU per search on the measured machine (everything around the vector
/// kernels, src/milvus/overheads.rs), as the run itself measured it: the server's CPU
/// per search of the 100-row collection (`search_tiny_collection` records, where the
/// kernels take microseconds), less the idle background the server ran before
/// (`server_cores_before`), fitted over nq by least squares (a fixed part and a part
/// per query vector), as `experiments/fidelity/derive_overheads.py` prints it (where
/// the records have one nq only, the script gives no per-query part, and this keeps the
/// model's, scaled by the clock, so the two agree at that nq). That
/// work moves with the machine beyond its clock (a slowed VM: 5.41 ms a search against
/// 1.65 ms on a quiet morning, the clock unchanged, README "Calibrated around the
/// run"), so each run is predicted with its own, as with its client overhead; nothing
/// here looks at a case.
#[derive(Clone, Debug)]
pub struct ServerWork {
    /// The run's own fit, ms and ms per query vector, and the records it came from;
    /// `None` when the results file has no usable record.
    pub measured: Option<(f64, f64, usize)>,
    /// Whether the fit's per-query part is the model's (a run whose records all have
    /// one nq, such as a quick run's single record, has no slope of its own).
    pub slope_from_model: bool,
    /// The model's figures on the profile's clock, ms and ms per query vector: the
    /// reference measurement scaled by the clock.
    pub model: (f64, f64),
    /// `--model-server-work`: predict with the model's figures instead.
    pub use_model: bool,
    /// The run's fit over the same records, each carried to the run's fastest client
    /// first (its work over its [`ClientSpeed`]): the work per search on the machine
    /// at its best, ms and ms per query vector; `None` without the client's figures or
    /// where that fit fails as `measured` would.
    pub at_fastest: Option<(f64, f64)>,
    /// `--steady-server-work`: every case with `measured` as the records gave it.
    pub steady: bool,
}

impl ServerWork {
    fn from_results(results: &Value, ghz: f64, speed: &ClientSpeed) -> ServerWork {
        use crate::milvus::overheads::{on_host, SEARCH_SERVER_NS, SEARCH_SERVER_NS_PER_QUERY};
        let model = (
            on_host(SEARCH_SERVER_NS, ghz) / 1e6,
            on_host(SEARCH_SERVER_NS_PER_QUERY, ghz) / 1e6,
        );
        let records = results["client_overhead"].as_array().cloned();
        // (nq, work as measured, the record's client speed)
        let points: Vec<(f64, f64, Option<f64>)> = records
            .unwrap_or_default()
            .iter()
            .filter(|r| r["kind"] == "search_tiny_collection")
            .filter_map(|r| {
                let f = &r["figures"];
                if f["errors"].as_f64().unwrap_or(0.0) > 0.0 {
                    return None;
                }
                let requests = f["requests"].as_f64().filter(|&n| n > 0.0)?;
                let cpu_ms = f["server_cpu_ms_per_request"].as_f64()?;
                // The server's idle background over the records' window (time ticks,
                // the checkers): work the model plays on its own.
                let background_ms = r["contention"]["server_cores_before"]
                    .as_f64()
                    .map_or(0.0, |cores| {
                        cores * f["window_s"].as_f64().unwrap_or(0.0) / requests * 1e3
                    });
                Some((r["nq"].as_f64()?, cpu_ms - background_ms, speed.of(r)))
            })
            .collect();
        let as_measured: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1)).collect();
        let at_fastest: Option<Vec<(f64, f64)>> =
            points.iter().map(|p| Some((p.0, p.1 / p.2?))).collect();
        let fit = |points: &[(f64, f64)]| {
            (!points.is_empty()).then(|| Self::least_squares(points, model.1))
        };
        let single_nq = points.iter().all(|p| p.0 == points[0].0);
        // A fit with a part at or below zero (noise on a few records), or beyond what
        // a host class may give (a broken record), is not a machine's work; the
        // model's is used then, and the report says so.
        let usable = |&(fixed, slope, _): &(f64, f64, usize)| {
            fixed > 0.0 && slope >= 0.0 && Self::within_class_limits(fixed, slope)
        };
        let measured = fit(&as_measured).filter(usable);
        ServerWork {
            at_fastest: measured
                .and(at_fastest)
                .and_then(|p| fit(&p))
                .filter(usable)
                .map(|(fixed, slope, _)| (fixed, slope)),
            measured,
            slope_from_model: single_nq,
            model,
            use_model: false,
            steady: false,
        }
    }

    /// A least-squares line over nq through `points` (nq, ms): the fixed part, the part
    /// per query vector (`model_slope` where every point has the same nq) and the
    /// points' count.
    fn least_squares(points: &[(f64, f64)], model_slope: f64) -> (f64, f64, usize) {
        let n = points.len() as f64;
        let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
        let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
        let slope = if sxx > 0.0 {
            points
                .iter()
                .map(|p| (p.0 - mean_x) * (p.1 - mean_y))
                .sum::<f64>()
                / sxx
        } else {
            model_slope
        };
        (mean_y - slope * mean_x, slope, points.len())
    }

    /// What the predictions use: ms and ms per query vector, and whether it is the run's.
    pub fn used(&self) -> (f64, f64, bool) {
        match self.measured {
            Some((fixed, per_query, _)) if !self.use_model => (fixed, per_query, true),
            _ => (self.model.0, self.model.1, false),
        }
    }

    /// The work a case is predicted with when the harness's client ran its searches at
    /// `speed` ([`ClientSpeed::of`]): the run's at its fastest times that speed. None
    /// (the records' own work as measured, which the host class carries) without a
    /// speed, with `--steady-server-work` or `--model-server-work`, without the fit at
    /// the fastest, or where the product passes a host class's limits.
    pub fn for_case(&self, speed: Option<f64>) -> Option<(f64, f64)> {
        if self.use_model || self.steady {
            return None;
        }
        // at_fastest is None wherever `measured` is.
        let ((fixed, per_query), speed) = (self.at_fastest?, speed?);
        Some((fixed * speed, per_query * speed)).filter(|&(f, q)| Self::within_class_limits(f, q))
    }

    /// Whether a per-search work of `fixed_ms` + `per_query_ms` a query vector is
    /// within what a host class may give (src/scenario/topology.rs).
    fn within_class_limits(fixed_ms: f64, per_query_ms: f64) -> bool {
        use crate::scenario::topology::{MAX_SEARCH_SERVER_CPU, MAX_SEARCH_SERVER_CPU_PER_QUERY};
        let most_ms = |d: crate::engine::SimDuration| d.as_nanos() as f64 / 1e6;
        fixed_ms <= most_ms(MAX_SEARCH_SERVER_CPU)
            && per_query_ms <= most_ms(MAX_SEARCH_SERVER_CPU_PER_QUERY)
    }

    fn line(&self) -> String {
        let (mf, mq) = self.model;
        let model = format!("{mf:.3} ms + {:.1} us a query vector", mq * 1e3);
        match (self.measured, self.use_model) {
            (Some((fixed, per_query, n)), use_model) => format!(
                "server work per search (Milvus's own CPU around the kernels, as the run measured it on a 100-row collection: {n} record{}{}): {fixed:.3} ms + {:.1} us a query vector; the model's at this clock: {model}; {}",
                if n == 1 { "" } else { "s" },
                if self.slope_from_model { ", the per-query part the model's" } else { "" },
                per_query * 1e3,
                if use_model { "predicted with the model's (--model-server-work)" } else { "predicted with the run's" }
            ),
            (None, _) => format!(
                "server work per search: the results file has no usable 100-row search record (none without errors, or a fit over nq with a part at or below zero or beyond a host class's limits, 500 ms and 5 ms a query vector); predicted with the model's at this clock: {model}"
            ),
        }
    }
}

/// The machine's calibrations around a measuring run (`harness.py --calibrate`): one
/// just before the server started, one once it stopped, in files beside the results
/// file that its `calibration` record names.
pub struct Calibration {
    pub before: ProfileChoice,
    pub after: Option<ProfileChoice>,
    /// How far the machine's speed moved from the first to the second.
    pub change: Option<SpeedChange>,
    /// Whether the predictions use `before` (no `--profile` given).
    pub used: bool,
    /// With `--profile`: how the machine calibrated before the run compares with the
    /// profile given (above 1: the measured machine was slower than that profile says).
    pub against_given: Option<SpeedChange>,
}

/// A move of the calibrated kernels' mean speed larger than this (10 %) during a run is
/// reported as a warning: the run's figures were taken on a machine whose speed moved
/// by more than the fidelity band (0.8-1.25) can absorb beside the model's own error. A
/// chosen threshold.
pub const DRIFT_TOLERANCE: f64 = 0.10;

impl Calibration {
    /// The `calibration` record of a results file, its profiles read from beside it.
    fn read(results_path: &Path, results: &Value) -> Result<Option<Calibration>, String> {
        let record = &results["calibration"];
        if record.is_null() {
            return Ok(None);
        }
        let dir = results_path.parent().unwrap_or(Path::new(""));
        let load = |which: &str| -> Result<Option<ProfileChoice>, String> {
            if record[which].is_null() {
                return Ok(None);
            }
            let Some(name) = record[which]["file"].as_str().filter(|n| !n.is_empty()) else {
                return Err(located(
                    results_path,
                    &format!("calibration.{which}.file"),
                    "not a file name",
                ) + "\n  hint: the harness writes the profile's file name here; a hand-edited record needs one");
            };
            ProfileChoice::load(&dir.join(name)).map(Some).map_err(|e| {
                located(
                    results_path,
                    &format!("calibration.{which}"),
                    format!("the profile it names cannot be used:\n{e}"),
                ) + "\n  hint: keep the profiles the harness wrote beside the results file, or give --profile FILE"
            })
        };
        let Some(before) = load("before")? else {
            return Err(located(
                results_path,
                "calibration",
                "has no \"before\" profile",
            ) + "\n  hint: the harness calibrates before the server starts; give --profile FILE for a file without it");
        };
        let after = load("after")?;
        let change = after
            .as_ref()
            .map(|a| speed_change(&before.profile, &a.profile));
        Ok(Some(Calibration {
            before,
            after,
            change,
            used: false,
            against_given: None,
        }))
    }

    /// The `calibration` object of `--out FILE.json`.
    fn json(&self) -> Value {
        let file = |p: &ProfileChoice| {
            p.file
                .as_ref()
                .map(|(f, _)| f.to_string_lossy().into_owned())
        };
        let spread = |s: &Option<crate::calibrate::drift::Spread>| {
            s.as_ref()
                .map(|s| json!({"mean": s.mean, "min": s.min, "max": s.max, "figures": s.figures}))
        };
        let change = |c: &SpeedChange| json!({"cache": spread(&c.cache), "memory": spread(&c.memory), "clock": c.clock});
        json!({
            "before": file(&self.before),
            "after": self.after.as_ref().and_then(file),
            "used": self.used,
            "change": self.change.as_ref().map(change),
            "against_given": self.against_given.as_ref().map(change),
        })
    }

    /// The lines `simctl fidelity` prints about the calibrations.
    fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "calibrated before the run: {}{}",
            self.before.describe(),
            if self.used {
                " (the profile these predictions use)"
            } else {
                " (not used: --profile given)"
            }
        )];
        let spread = |s: &Option<crate::calibrate::drift::Spread>| match s {
            Some(s) => format!(
                "{:.2}x ({:.2}-{:.2} over {} figures)",
                s.mean, s.min, s.max, s.figures
            ),
            None => "not compared".into(),
        };
        if let Some(given) = &self.against_given {
            out.push(format!(
                "the run's calibration against the --profile one (above 1: the measured machine was slower): in-cache kernels {}, memory {}, clock {:.2}x",
                spread(&given.cache),
                spread(&given.memory),
                given.clock
            ));
        }
        let Some(change) = &self.change else {
            out.push("no calibration after the run (the run or that calibration stopped early or failed): the machine's speed during it is not known".into());
            return out;
        };
        out.push(format!(
            "machine speed after the run against before (above 1: slower after): in-cache kernels {}, memory {}, clock {:.2}x",
            spread(&change.cache),
            spread(&change.memory),
            change.clock
        ));
        if [&change.cache, &change.memory]
            .iter()
            .any(|s| s.as_ref().is_some_and(|s| s.moved(DRIFT_TOLERANCE)))
        {
            out.push(format!(
                "warning: the machine's speed moved by more than {:.0} % during the run: its figures were measured on a machine between the two calibrations, and the predictions use {}",
                DRIFT_TOLERANCE * 100.0,
                if self.used { "the first" } else { "the --profile one" }
            ));
        }
        out
    }
}

pub struct Options {
    /// The standalone topology the cases run on.
    pub topology: PathBuf,
    /// `--profile`; `None`: the profile the results file's own calibration names (the
    /// harness's `--calibrate`), else the built-in reference.
    pub profile: Option<ProfileChoice>,
    /// `--client-overhead-ms`.
    pub client_overhead_ms: Option<f64>,
    /// `--model-server-work`: the model's per-search server work instead of the run's.
    pub model_server_work: bool,
    /// `--calibrated-bandwidth`: the profile's memory bandwidth for every measurement,
    /// instead of following the memory probes beside each ([`bandwidth_scale`]).
    pub calibrated_bandwidth: bool,
    /// `--steady-server-work`: every case with the run's per-search server work as its
    /// records measured it and every insert with the insert knobs, instead of at the
    /// speed each one's client ran ([`ServerWork::for_case`], [`insert_client_speed`]).
    pub steady_server_work: bool,
    /// `--tick-phase-ms`: the experiments' `tick_phase` (rootcoord's time-tick loop
    /// after the proxy's reports); `None`: the model's default.
    pub tick_phase_ms: Option<f64>,
}

/// Everything `simctl fidelity` prints.
pub struct Report {
    pub results: PathBuf,
    pub machine: String,
    /// The CPU the profile in use was measured on, where it is not the results file's:
    /// the predictions are then for another machine than the one measured.
    pub other_profile_cpu: Option<String>,
    /// The simulated host as the profile describes it: clock and ISA.
    pub host_clock: String,
    pub cores: u64,
    pub memory_bytes: u64,
    pub overhead: ClientOverhead,
    pub server_work: ServerWork,
    /// Whose memory bandwidth the measurements were predicted with ([`bandwidth_scale`]).
    pub bandwidth: String,
    /// Which server work each search case was predicted with ([`ServerWork::for_case`]).
    pub server_work_per_case: String,
    /// Which insert work each insert was predicted with ([`insert_client_speed`]).
    pub insert_work: String,
    /// `--tick-phase-ms`, or `None`: each case's from its tick probe, else the
    /// experiments' default `tick_phase`.
    pub tick_phase_ms: Option<f64>,
    /// The model's tick age at phase 0 ([`model_tick_age_ms`]), where cases have probes.
    pub model_tick_age_ms: Option<f64>,
    /// The results file's own calibrations, where it has them.
    pub calibration: Option<Calibration>,
    /// With `--profile`: why the results file's calibration record could not be used.
    pub calibration_unused: Option<String>,
    pub rows: Vec<Row>,
    /// Per figure over every row, then over the uncontended rows.
    pub all: Vec<Summary>,
    pub uncontended: Vec<Summary>,
    /// Per figure over the rows neither contended nor slowed (more than
    /// [`STEADY_SLOWDOWN`]); empty for a results file without the speed probe.
    pub steady: Vec<Summary>,
    /// Cases or data sets left out, and why.
    pub skipped: Vec<String>,
}

fn located(path: &Path, what: &str, msg: impl std::fmt::Display) -> String {
    format!("{}: error: {what}: {msg}", path.display())
}

/// Reads a results file and predicts every case in it.
pub fn predict(results_path: &Path, opts: Options) -> Result<Report, String> {
    let text = std::fs::read_to_string(results_path).map_err(|e| {
        format!(
            "{}: error: cannot read the results file: {e}\n  hint: give the JSON file experiments/fidelity/run.sh wrote",
            results_path.display()
        )
    })?;
    let results: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}:{}:{}: error: not valid JSON: {e}\n  hint: the harness rewrites the file after every measurement; a file cut mid-write needs a rerun",
            results_path.display(),
            e.line(),
            e.column()
        )
    })?;
    if results["schema"] != SCHEMA {
        return Err(format!(
            "{}: error: schema is {}, not {SCHEMA:?}\n  hint: give a results file of experiments/fidelity/harness.py",
            results_path.display(),
            results["schema"]
        ));
    }
    // With --profile the run's own calibration is only a comparison: a record whose
    // profiles cannot be read (a results file copied without them) is reported, not fatal.
    let (mut calibration, calibration_unused) = match Calibration::read(results_path, &results) {
        Ok(c) => (c, None),
        Err(e) if opts.profile.is_some() => (None, Some(e)),
        Err(e) => return Err(e),
    };
    if let Some(c) = calibration.as_mut() {
        c.used = opts.profile.is_none();
        c.against_given = opts
            .profile
            .as_ref()
            .map(|given| speed_change(&given.profile, &c.before.profile));
    }
    let profile = match (opts.profile, &calibration) {
        (Some(p), _) => p,
        (None, Some(c)) => c.before.clone(),
        (None, None) => ProfileChoice::reference(),
    };
    let machine = &results["machine"];
    let cores = machine["cores_usable"].as_u64().filter(|&c| c > 0);
    let memory_bytes = machine["memory_bytes"].as_u64().filter(|&m| m > 0);
    let (Some(cores), Some(memory_bytes)) = (cores, memory_bytes) else {
        return Err(located(
            results_path,
            "machine",
            "cores_usable and memory_bytes must be positive integers",
        ) + "\n  hint: the harness records them from the machine it ran on");
    };
    let topo = load_topology(&opts.topology, None).map_err(|e| {
        format!("{e}\n  hint: run from the repository root, or give --topology FILE")
    })?;
    if topo.standalone().is_none() || topo.hosts.len() != 1 {
        return Err(format!(
            "{}: error: topology {:?} is not a Milvus standalone on one host\n  hint: the harness measures a standalone; use topologies/standalone.toml",
            opts.topology.display(),
            topo.name
        ));
    }
    // The harness runs on the calibrated machine: its clock, ISA and read bandwidth
    // (all threads) come from the profile, its cores and memory from the results.
    let class = topo.hosts[0].class.clone();
    let m = &profile.profile.machine;
    let bandwidth = profile.profile.bandwidth.read_bytes_per_s.last().copied();
    let mut topology_sets = vec![
        format!("topology.class.{class}.cores={cores}"),
        format!("topology.class.{class}.memory=\"{memory_bytes}B\""),
        format!("topology.class.{class}.ghz={}", m.ghz),
        format!("topology.class.{class}.isa=\"{}\"", m.isa.name()),
    ];
    if let Some(bw) = bandwidth {
        topology_sets.push(format!(
            "topology.class.{class}.memory_bandwidth=\"{}MB/s\"",
            (bw / 1e6).round()
        ));
    }
    // The run's own per-search server work, on the measured machine itself (ServerWork).
    // Each uncontended case gets it at the speed its client ran (ClientSpeed).
    let client_speed = ClientSpeed::from_results(&results);
    let mut server_work = ServerWork::from_results(&results, m.ghz, &client_speed);
    server_work.use_model = opts.model_server_work;
    server_work.steady = opts.steady_server_work;
    if let (fixed_ms, per_query_ms, true) = server_work.used() {
        topology_sets.push(format!(
            "topology.class.{class}.search_server_cpu=\"{}ns\"",
            (fixed_ms * 1e6).round()
        ));
        topology_sets.push(format!(
            "topology.class.{class}.search_server_cpu_per_query=\"{}ns\"",
            (per_query_ms * 1e6).round()
        ));
    }
    let topology_ref = std::path::absolute(&opts.topology).map_err(|e| {
        located(
            &opts.topology,
            "topology",
            format!("cannot resolve the path: {e}"),
        )
    })?;
    let mut overhead = ClientOverhead::from_results(&results, &client_speed);
    overhead.fixed_ms = opts.client_overhead_ms;
    // Memory bandwidth that follows the run (bandwidth_scale): only where the profile
    // is the run's own calibration, taken just before the run's first probe.
    let memory_anchor_ms = results["machine"]["speed_probe"]["memory_ms"]
        .as_f64()
        .filter(|ms| *ms > 0.0)
        .filter(|_| calibration.as_ref().is_some_and(|c| c.used))
        .filter(|_| !opts.calibrated_bandwidth);
    let ctx = CaseContext {
        results_path,
        host: &topo.hosts[0].name,
        fastest_probe: fastest_probe(&results),
        memory_anchor_ms,
        topology_ref: &topology_ref,
        topology_sets: &topology_sets,
        cores,
        profile: &profile,
        server_work: &server_work,
        client_speed: &client_speed,
        cpu_model: results["machine"]["cpu_model"].as_str().unwrap_or(""),
        tick_phase_ms: opts.tick_phase_ms,
        model_tick_age_ms: None,
    };
    let probed = (results["cases"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]))
    .iter()
    .any(|c| TickProbe::of(c).is_some());
    let model_tick_age_ms = match (probed, opts.tick_phase_ms) {
        (true, None) => Some(
            model_tick_age_ms(&ctx)
                .map_err(|e| located(results_path, "the model's time-tick age", e))?,
        ),
        _ => None,
    };
    let ctx = CaseContext {
        model_tick_age_ms,
        ..ctx
    };

    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let cases = results["cases"].as_array().cloned().unwrap_or_default();
    for (i, case) in cases.iter().enumerate() {
        let id = case["id"].as_str().unwrap_or("?").to_string();
        match search_case(&ctx, case, &overhead) {
            Ok(Some((p50, qps, replay, speed, phase, stale))) => {
                let f = &case["figures"];
                for (figure, measured, predicted) in [
                    (Figure::SearchP50Ms, f["latency_ms_p50"].as_f64(), p50),
                    (Figure::SearchQps, f["qps"].as_f64(), qps),
                ] {
                    if !predicted.is_finite() {
                        skipped.push(format!(
                            "case {i} ({id}): no search answered in {SEARCH_MAX_SECONDS} simulated seconds, no {} to compare",
                            figure.name()
                        ));
                        continue;
                    }
                    if let Some(measured) = measured.filter(|m| *m > 0.0) {
                        let mut row = ctx.row(
                            id.clone(),
                            figure,
                            (measured, predicted),
                            &case["contention"],
                            replay,
                        );
                        row.client_speed = speed;
                        row.tick_phase_ms = phase;
                        row.stale_ticks = stale;
                        rows.push(row);
                    }
                }
            }
            Ok(None) => skipped.push(format!("case {i} ({id}): it has errors or no figures")),
            Err(e) => return Err(located(results_path, &format!("case {i} ({id})"), e)),
        }
    }
    let datasets = results["datasets"].as_array().cloned().unwrap_or_default();
    for (i, ds) in datasets.iter().enumerate() {
        let name = ds["name"].as_str().unwrap_or("?").to_string();
        let what = format!("dataset {i} ({name})");
        let found = ingest_rows(&ctx, ds, &cases, &mut skipped)
            .map_err(|e| located(results_path, &what, e))?;
        rows.extend(found);
    }
    let summarize = |keep: &dyn Fn(&Row) -> bool| -> Vec<Summary> {
        Figure::ALL
            .iter()
            .filter_map(|&figure| {
                let ln: Vec<f64> = rows
                    .iter()
                    .filter(|r| r.figure == figure && keep(r))
                    .map(|r| libm::log(r.ratio()))
                    .collect();
                if ln.is_empty() {
                    return None;
                }
                let n = ln.len() as f64;
                Some(Summary {
                    figure,
                    rows: ln.len(),
                    ratio: libm::exp(ln.iter().sum::<f64>() / n),
                    error: libm::exp(ln.iter().map(|x| x.abs()).sum::<f64>() / n),
                })
            })
            .collect()
    };
    let mut scales: Vec<f64> = rows.iter().filter_map(|r| r.bandwidth_scale).collect();
    scales.sort_by(f64::total_cmp);
    let bandwidth = match (scales.first(), scales.last()) {
        (Some(lo), Some(hi)) => format!(
            "memory bandwidth: the calibration's, times how much faster the memory probes around each measurement ran than the run's first (taken just after the calibration): x{lo:.2}-{hi:.2}, median x{:.2} over {} figures (--out: bandwidth_scale; --calibrated-bandwidth keeps the calibration's)",
            scales[scales.len() / 2],
            scales.len()
        ),
        _ if opts.calibrated_bandwidth && calibration.as_ref().is_some_and(|c| c.used) => {
            "memory bandwidth: the calibration's for every measurement (--calibrated-bandwidth)".into()
        }
        _ => "memory bandwidth: the profile's for every measurement (it follows the memory probes only where the run's own calibration predicts a results file with speed probes)".into(),
    };
    // The client speeds the rows of one figure were predicted at, in order (a search
    // case's median row stands for the case).
    let speeds_of = |figure: Figure| {
        let mut v: Vec<f64> = rows
            .iter()
            .filter(|r| r.figure == figure)
            .filter_map(|r| r.client_speed)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let speeds = speeds_of(Figure::SearchP50Ms);
    let server_work_per_case = match (server_work.at_fastest, speeds.first(), speeds.last()) {
        (Some((fixed, per_query)), Some(lo), Some(hi)) => format!(
            "server work per case: the run's at its fastest client ({fixed:.3} ms + {:.1} us a query vector: each record's work over how slowly its client ran against the run's fastest at its dim and nq), times the case's own client speed: x{lo:.2}-{hi:.2}, median x{:.2} over {} uncontended cases; contended ones keep the records' (their client also waited behind the others) (--out: client_speed; --steady-server-work keeps the records' for every case)",
            per_query * 1e3,
            speeds[speeds.len() / 2],
            speeds.len()
        ),
        _ if !server_work.used().2 => format!(
            "server work per case: the model's for every case ({})",
            if opts.model_server_work {
                "--model-server-work"
            } else {
                "no usable 100-row record"
            }
        ),
        _ if opts.steady_server_work => {
            "server work per case: the records' for every case (--steady-server-work)".into()
        }
        (None, _, _) => "server work per case: the records' for every case (a 100-row record without the client's figures, or their fit at the fastest client fails as above)".into(),
        _ => "server work per case: the records' for every case (every search case contended, without the client's figures, or past a host class's limits at its speed)".into(),
    };
    let insert_speeds = speeds_of(Figure::InsertRowsPerS);
    let inserts = rows
        .iter()
        .filter(|r| r.figure == Figure::InsertRowsPerS)
        .count();
    let insert_work = match (insert_speeds.first(), insert_speeds.last()) {
        (Some(lo), Some(hi)) => format!(
            "insert work: the knobs' (measured on {INSERT_KNOB_CPU}), on its clock over how slowly each insert's client ran against the quiet ingests they were checked against: x{lo:.2}-{hi:.2} over {} of {inserts} inserts{} (--out: client_speed; --steady-server-work keeps the knobs' for every insert)",
            insert_speeds.len(),
            if insert_speeds.len() < inserts {
                "; the others keep the knobs' (contended, their client having also waited behind the others, or without the client's figures)"
            } else {
                ""
            }
        ),
        _ if inserts == 0 => "insert work: no insert measured".into(),
        _ if opts.steady_server_work => {
            "insert work: the knobs' for every insert (--steady-server-work)".into()
        }
        _ if machine["cpu_model"].as_str() != Some(INSERT_KNOB_CPU) => format!(
            "insert work: the knobs' for every insert, scaled by the clock only (they were measured on {INSERT_KNOB_CPU}; how fast this machine's client ran says nothing of them)"
        ),
        _ => "insert work: the knobs' for every insert (each contended, or without the client's figures)".into(),
    };
    let all = summarize(&|_| true);
    let uncontended = summarize(&|r| !r.contended);
    let steady = if rows.iter().any(|r| r.slowdown.is_some()) {
        summarize(&|r| !r.contended && r.slowdown.is_some_and(|s| s <= STEADY_SLOWDOWN))
    } else {
        Vec::new()
    };
    let model_tick_age_ms = ctx.model_tick_age_ms;
    Ok(Report {
        results: results_path.to_path_buf(),
        machine: machine["cpu_model"].as_str().unwrap_or("?").to_string(),
        other_profile_cpu: Some(m.cpu_model.clone())
            .filter(|p| machine["cpu_model"].as_str().is_some_and(|r| r != p)),
        host_clock: format!("{:.2} GHz {}", m.ghz, m.isa.name()),
        cores,
        memory_bytes,
        overhead,
        server_work,
        bandwidth,
        server_work_per_case,
        insert_work,
        tick_phase_ms: opts.tick_phase_ms,
        model_tick_age_ms,
        calibration,
        calibration_unused,
        rows,
        all,
        uncontended,
        steady,
        skipped,
    })
}

/// A measurement counts as taken on a steady machine when the speed probes around it
/// ran at most this much slower than the run's fastest probe. A chosen threshold, like
/// the harness's quiet one (0.3 cores of others' CPU): the probes of one run on a
/// steady stretch of the quiet Xeon spread over 9.4-9.8 ms, its slow spells took
/// 16-20 ms (experiments/fidelity/README.md, "What it does", step 6).
pub const STEADY_SLOWDOWN: f64 = 1.2;

/// The fastest CPU probe (`cpu_ms` of `speed_probe()`) anywhere in a results file:
/// the machine at its own best, the reference of every [`slowdown`].
fn fastest_probe(results: &Value) -> Option<f64> {
    let mut fastest: Option<f64> = None;
    let mut stack = vec![results];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if matches!(k.as_str(), "speed_probe" | "probe_before" | "probe_after") {
                        if let Some(ms) = x["cpu_ms"].as_f64().filter(|ms| *ms > 0.0) {
                            fastest = Some(fastest.map_or(ms, |f| f.min(ms)));
                        }
                    }
                    stack.push(x);
                }
            }
            Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
    fastest
}

/// The mean of a measurement's two CPU probes (just before, just after) over the run's
/// fastest: 1 on the machine at its best, 2 when fixed work took twice as long.
fn slowdown(contention: &Value, fastest: Option<f64>) -> Option<f64> {
    let before = contention["probe_before"]["cpu_ms"].as_f64()?;
    let after = contention["probe_after"]["cpu_ms"].as_f64()?;
    Some((before + after) / 2.0 / fastest?)
}

/// How much faster memory read during a measurement than when the machine was
/// calibrated: the run's first memory probe (`anchor_ms`, taken just after the
/// calibration, with the server idle) over the mean of the measurement's two (just
/// before, just after). A probe is a one-thread sum over 64 MiB; the scale applies to
/// the profile's read bandwidth at every thread count, and so to the host's. On the
/// slowed night the calibration measured 3.9 GB/s on one thread, the first probe 5.0,
/// and the FLAT scans then ran at up to 7.9 (README "Calibrated around the run"): a
/// virtual machine's memory speed moves within minutes, and the probes beside each
/// measurement are what the run knows of it.
fn bandwidth_scale(contention: &Value, anchor_ms: Option<f64>) -> Option<f64> {
    let before = contention["probe_before"]["memory_ms"].as_f64()?;
    let after = contention["probe_after"]["memory_ms"].as_f64()?;
    Some(anchor_ms? / ((before + after) / 2.0)).filter(|s| s.is_finite() && *s > 0.0)
}

struct CaseContext<'a> {
    results_path: &'a Path,
    /// The standalone's host, where the harness's client runs too.
    host: &'a str,
    /// The results file's fastest speed probe ([`fastest_probe`]).
    fastest_probe: Option<f64>,
    /// The memory probe taken just after the calibration in use (the run's first,
    /// `machine.speed_probe`, when the run's own calibration predicts it), which
    /// anchors [`bandwidth_scale`]; `None`: the profile's bandwidth for every case.
    memory_anchor_ms: Option<f64>,
    topology_ref: &'a Path,
    topology_sets: &'a [String],
    cores: u64,
    profile: &'a ProfileChoice,
    /// The run's per-search server work ([`ServerWork`]), which the host class
    /// carries as the records measured it; a case may get it at its client's speed.
    server_work: &'a ServerWork,
    client_speed: &'a ClientSpeed,
    /// The measured machine's CPU as the harness recorded it.
    cpu_model: &'a str,
    /// `--tick-phase-ms`: one phase for every case.
    tick_phase_ms: Option<f64>,
    /// How old a time tick is when it reaches the simulated query node with the
    /// phase at 0 ([`model_tick_age_ms`]); None where no case has a tick probe.
    model_tick_age_ms: Option<f64>,
}

impl CaseContext<'_> {
    /// The CPU other processes used during a measurement (`others_cores_mean` of its
    /// `contention`, 0 where not recorded), which the prediction reproduces beside the
    /// simulated server (CaseContext::simulate). A measured condition of each record,
    /// like the machine's cores.
    fn others_cores(&self, contention: &Value) -> f64 {
        contention["others_cores_mean"]
            .as_f64()
            .filter(|c| c.is_finite() && *c > 0.0)
            .unwrap_or(0.0)
    }

    /// The CPU the server and the harness's client used during a measurement, in cores
    /// (None where the record lacks it).
    fn server_cores(contention: &Value) -> Option<f64> {
        let wall = contention["wall_s"].as_f64().filter(|w| *w > 0.0)?;
        let server = contention["server_cpu_s"].as_f64()?;
        let client = contention["harness_cpu_s"].as_f64().unwrap_or(0.0);
        Some((server + client) / wall)
    }

    /// How much faster memory read during a measurement than when the machine was
    /// calibrated ([`bandwidth_scale`]); `None` without an anchor or probes.
    fn bandwidth_scale(&self, contention: &Value) -> Option<f64> {
        bandwidth_scale(contention, self.memory_anchor_ms)
    }

    /// The record's slowdown against the run's fastest speed probe ([`slowdown`]).
    fn slowdown(&self, contention: &Value) -> Option<f64> {
        slowdown(contention, self.fastest_probe)
    }

    /// A row whose measurement has the contention record `contention`, predicted beside
    /// the others as `replay` replayed them.
    fn row(
        &self,
        case: String,
        figure: Figure,
        (measured, predicted): (f64, f64),
        contention: &Value,
        replay: Replay,
    ) -> Row {
        Row {
            case,
            figure,
            measured,
            predicted,
            contended: contention["contended"] == true,
            others_cores: self.others_cores(contention),
            others_threads: replay.threads,
            others_replayed: replay.used,
            server_cores: Self::server_cores(contention),
            server_replayed: replay.server,
            slowdown: self.slowdown(contention),
            bandwidth_scale: self.bandwidth_scale(contention),
            client_speed: None,
            tick_phase_ms: None,
            stale_ticks: None,
        }
    }

    /// Simulates `text`, an experiment over the standalone beside processes outside the
    /// model that used `others` cores while the real server was measured, and returns
    /// its summary and how it replayed them.
    ///
    /// The others compete with the server's threads for the cores (hw::cpu), so what
    /// they got depends on what the server did: beside a busy server less than they
    /// wanted, beside one waiting on a coordinator's round all they wanted. The records
    /// hold what they got, not what they wanted; the replay looks for the others'
    /// runnable threads b with which the simulated others use, over the measured span
    /// (`window`: its start and end in the summary, seconds), the `others` cores they
    /// were measured using. b is solved from that measured input, never from the figure
    /// being predicted; but what the others get beside the simulated server depends on
    /// the CPU the model gives the server, so where that is off, b takes it up (the
    /// rows carry both servers' CPU over the span to show it). g(b), the simulated
    /// others' use, grows with b and levels off below the cores; b starts at `others`
    /// (g(b) ≤ b, and equal while the server leaves the others room), grows as a busy
    /// server's share says until a try lands above, then closes in between; the
    /// closest of the tries is kept (g moves in steps where a Strong search's wait
    /// flips from one time tick to two).
    fn simulate(
        &self,
        label: &str,
        text: &str,
        contention: &Value,
        speed: CaseSpeed,
        window: &dyn Fn(&Value) -> Option<(f64, f64)>,
    ) -> Result<(Value, Replay), String> {
        let others = self.others_cores(contention);
        let origin = self.results_path.with_file_name(format!("{label}.toml"));
        let mut exp = load_experiment_text(&origin, text, self.topology_sets)
            .map_err(|e| format!("the experiment built for it is rejected:\n{e}"))?;
        exp.profile = self.profile.clone();
        let Some(host) = exp.topology.hosts.iter().position(|h| h.name == self.host) else {
            return Err(format!("the topology has no host {:?}", self.host));
        };
        if let Some(scale) = self.bandwidth_scale(contention) {
            let mut profile = (*exp.profile.profile).clone();
            profile
                .bandwidth
                .read_bytes_per_s
                .iter_mut()
                .for_each(|b| *b *= scale);
            exp.profile.profile = std::sync::Arc::new(profile);
            exp.topology.hosts[host].memory_bandwidth_bytes_per_s *= scale;
        }
        // The case's own per-search work, ms and ms per query vector, instead of the
        // records' that the host class carries (ServerWork::for_case).
        if let Some((fixed_ms, per_query_ms)) = speed.search_work {
            let ns = |ms: f64| crate::engine::SimDuration::from_nanos((ms * 1e6).round() as u64);
            exp.topology.hosts[host].search_server = crate::hw::host::SearchServerCpu {
                fixed: Some(ns(fixed_ms)),
                per_query: Some(ns(per_query_ms)),
            };
        }
        // The clock the machine ran its CPU work at: every CPU cost on the host scales
        // with it (src/milvus/overheads.rs, on_host; the kernels' prices too, which
        // only an insert, where no kernel runs, is given this for).
        if let Some(ghz) = speed.clock_ghz {
            exp.topology.hosts[host].ghz = ghz;
        }
        let run = |threads: f64| -> Result<(Value, Replay), String> {
            let mut exp = exp.clone();
            exp.topology.hosts[host].background_cores = threads;
            let layout = crate::milvus::plan(&exp)
                .map_err(|e| format!("the collection does not fit the standalone:\n{e}"))?;
            // The CPU use over the measured span, from 10 ms buckets (hw::buckets).
            let r = crate::run::simulate_tracking(&exp, layout, host);
            let span = window(&r.summary);
            let over = |b: &crate::hw::buckets::FineBuckets| {
                span.and_then(|(from, to)| b.mean_over(from, to))
            };
            let (model, others) = r.fine_usage.as_ref().expect("the host is tracked");
            let replay = Replay {
                threads,
                used: over(others),
                server: over(model),
            };
            Ok((r.summary, replay))
        };
        let first = run(others)?;
        if others <= 0.0 || first.1.used.is_none() {
            // No others, or no span to compare over (the simulated step never
            // finished): the others as many threads as the cores they were measured using.
            return Ok(first);
        }
        let miss = |r: &Replay| r.used.map_or(f64::INFINITY, |g| (g - others).abs());
        let mut best = first.clone();
        // The tries on either side of the measured use: below (g < others) and above
        // (g > others, or so many threads that the simulated step never finished).
        let (mut below, mut above): (Option<Replay>, Option<Replay>) = (None, None);
        let mut tried = first.1;
        let cap = OTHERS_MAX_THREADS_PER_CORE * self.cores as f64;
        for _ in 0..OTHERS_MAX_REPLAYS {
            match tried.used {
                Some(g) if (g - others).abs() <= OTHERS_TOLERANCE_CORES => break,
                Some(g) if g < others => below = Some(tried),
                _ => above = Some(tried),
            }
            let next = match (below, above) {
                // Between a try below and one above: the secant through them, or the
                // middle (in ratio) where g moves in a step and the secant hugs an end.
                (Some(lo), Some(hi)) => {
                    let (a, b) = (lo.threads, hi.threads);
                    let secant = match (lo.used, hi.used) {
                        (Some(gl), Some(gh)) if gh - gl > 1e-9 => {
                            Some(a + (others - gl) * (b - a) / (gh - gl))
                        }
                        _ => None,
                    };
                    let inner = a + 0.1 * (b - a)..=b - 0.1 * (b - a);
                    match secant {
                        Some(x) if inner.contains(&x) => x,
                        _ => (a * b).sqrt(),
                    }
                }
                // Only below: more threads; g(b) = b·C/(T+b) on a busy server gives
                // b = others·T/(C − others) with T = b·(C − g)/g.
                (Some(lo), None) => {
                    let g = lo.used.unwrap_or(0.0);
                    let c = self.cores as f64;
                    let t = lo.threads * (c - g).max(0.0) / g.max(1e-9);
                    let b = others * t / (c - others).max(1e-9);
                    b.max(lo.threads * 1.25).min(cap)
                }
                // Only above: the first try uses at most what it wants, so never.
                (None, Some(hi)) => (hi.threads * 0.8).max(others),
                (None, None) => break,
            };
            if next == tried.threads {
                break;
            }
            let (summary, replay) = run(next)?;
            if miss(&replay) < miss(&best.1) {
                best = (summary, replay);
            }
            tried = replay;
        }
        Ok(best)
    }
}

/// The others' runnable threads a prediction replayed, the cores the simulated others
/// used with them over the measured span, and the cores the simulated server (its
/// threads and the harness's client on its host) used over it; None where the span
/// never ended.
#[derive(Clone, Copy, Debug)]
struct Replay {
    threads: f64,
    used: Option<f64>,
    server: Option<f64>,
}

/// A TOML inline table of the case's parameters (`{ M = 16, efConstruction = 200 }`).
fn inline_table(params: &Value) -> Result<String, String> {
    let Some(map) = params.as_object() else {
        return Ok("{}".into());
    };
    let mut parts = Vec::new();
    for (k, v) in map {
        let n = v
            .as_i64()
            .ok_or_else(|| format!("parameter {k} = {v} is not an integer"))?;
        parts.push(format!("{k} = {n}"));
    }
    if parts.is_empty() {
        return Ok("{}".into());
    }
    Ok(format!("{{ {} }}", parts.join(", ")))
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    match &v[key] {
        Value::Null => Err(format!("it has no {key:?}")),
        x => Ok(x),
    }
}

fn int(v: &Value, key: &str) -> Result<u64, String> {
    field(v, key)?
        .as_u64()
        .ok_or_else(|| format!("{key:?} is not a non-negative integer"))
}

fn word<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    let s = field(v, key)?
        .as_str()
        .ok_or_else(|| format!("{key:?} is not a string"))?;
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Ok(s)
    } else {
        Err(format!("{key:?} = {s:?} is not a name"))
    }
}

/// The [collection] of a case or data set with `index` and its build parameters.
fn collection(v: &Value, rows: u64, index: &str, build: &Value) -> Result<String, String> {
    Ok(format!(
        "[collection]\nrows = {rows}\ndim = {}\nmetric = \"{}\"\nindex = \"{index}\"\nindex_params = {}\nshards = {}\nreplicas = {}\n",
        int(v, "dim")?,
        word(v, "metric")?,
        inline_table(build)?,
        v["shards_num"].as_u64().unwrap_or(1),
        v["replicas"].as_u64().unwrap_or(1),
    ))
}

/// What the harness's tick probe just before a Strong case measured
/// (experiments/fidelity/measure.py `tick_age`): Strong searches issued one at each
/// phase of the tick interval, each with its moment and latency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TickProbe {
    /// The youngest tick's age as it freed a search, ms: the shortest Strong latency
    /// less the Eventually one.
    pub age_ms: f64,
    /// The share of ticks that were stale: of the searches issued long enough before
    /// the next tick arrived for a fresh tick to free them (half an interval, and more
    /// than the youngest tick's age), those it did not free: a stale tick carries a
    /// timestamp from before them. None where too few searches could tell (the
    /// youngest tick being nearly an interval old leaves few issued early enough).
    pub stale: Option<f64>,
}

/// A probe's share of stale ticks counts where at least this many of its searches
/// tell a stale tick.
const TICK_PROBE_MIN_SEARCHES: usize = 5;
/// GUESS: a probe whose searches were freed at moments this scattered within the
/// interval (the length of their mean direction, 1 when every search is freed at the
/// same phase) shows no tick schedule (a stalled or contended server), and is not read.
const TICK_PROBE_MIN_CONCENTRATION: f64 = 0.5;
/// GUESS: how much longer than the youngest tick's age before a tick a search must be
/// issued to tell a stale tick from a fresh one (twice the full probe's 5-ms step).
const TICK_PROBE_MARGIN_MS: f64 = 10.0;

impl TickProbe {
    /// The probe of a case, where it has its searches (`open_loop`: ms from the probe's
    /// start, latency ms) and the Eventually latency (`eventually_ms_p50`).
    pub fn of(case: &Value) -> Option<TickProbe> {
        let p = &case["tick_probe"];
        let age_ms = p["age_ms"].as_f64().filter(|a| a.is_finite())?;
        let search_ms = p["eventually_ms_p50"].as_f64().filter(|e| e.is_finite())?;
        // Each search: when it was issued, and how long it waited for its tick.
        let searches: Vec<(f64, f64)> = p["open_loop"]
            .as_array()?
            .iter()
            .filter_map(|s| Some((s[0].as_f64()?, s[1].as_f64()? - search_ms)))
            .collect();
        let interval = tick_interval_ms();
        // When the ticks arrive within the interval, on the probe's clock: the
        // circular mean of the moments its searches were freed.
        let angle = |ms: f64| 2.0 * std::f64::consts::PI * ms / interval;
        let (sin, cos) = searches.iter().fold((0.0, 0.0), |(s, c), (at, wait)| {
            (
                s + libm::sin(angle(at + wait)),
                c + libm::cos(angle(at + wait)),
            )
        });
        if searches.is_empty()
            || libm::hypot(sin, cos) / (searches.len() as f64) < TICK_PROBE_MIN_CONCENTRATION
        {
            return None;
        }
        let arrival =
            (libm::atan2(sin, cos) / (2.0 * std::f64::consts::PI) * interval).rem_euclid(interval);
        let tells = (interval / 2.0).max(age_ms + TICK_PROBE_MARGIN_MS);
        let (mut told, mut stale) = (0, 0);
        for &(at, wait) in &searches {
            let ahead = (arrival - at).rem_euclid(interval);
            if ahead >= tells {
                told += 1;
                stale += usize::from(wait >= ahead + interval / 2.0);
            }
        }
        Some(TickProbe {
            age_ms,
            stale: (told >= TICK_PROBE_MIN_SEARCHES).then(|| stale as f64 / told as f64),
        })
    }
}

/// The time-tick phase and the share of stale ticks a case is predicted with:
/// `--tick-phase-ms` (no stale ticks), else from the probe before the case: the phase
/// at which the model's ticks are as old as its youngest (its age less the model's at
/// phase 0; the model's age grows one for one with the phase, see
/// `RootCoord::on_time_tick_due`), within one interval, and its share of stale ticks;
/// None: the experiments' defaults. A measured condition of the server, as the
/// others' CPU is of a measurement: the probe's own searches, never the case's figures.
fn tick_settings(ctx: &CaseContext<'_>, case: &Value) -> (Option<f64>, Option<f64>) {
    if ctx.tick_phase_ms.is_some() {
        return (ctx.tick_phase_ms, None);
    }
    match (TickProbe::of(case), ctx.model_tick_age_ms) {
        (Some(p), Some(model)) => (
            Some((p.age_ms - model).clamp(0.0, tick_interval_ms() - TICK_PHASE_MARGIN_MS)),
            p.stale,
        ),
        _ => (None, None),
    }
}

/// The interval the fidelity cases tick at: Milvus's default `proxy.timeTickInterval`
/// (the harness's server runs with its defaults).
pub fn tick_interval_ms() -> f64 {
    crate::scenario::milvus_config::MilvusConfig::default().get("proxy.timeTickInterval")
}

/// A phase is set strictly within one interval.
const TICK_PHASE_MARGIN_MS: f64 = 0.001;

/// How old a time tick is when it frees a Strong search on the simulated standalone
/// with the phase at 0, ms: the probe of measure.py `tick_age` played on the model, as
/// Strong and Eventually searches at random moments (Poisson, 20 a second for 300 s)
/// on a small collection. A Strong search arriving anywhere in the interval waits for
/// the next tick's timestamp (half an interval on average) and then for the tick to
/// arrive (its age), so the age is the mean Strong latency less the mean Eventually
/// one, less half an interval.
fn model_tick_age_ms(ctx: &CaseContext<'_>) -> Result<f64, String> {
    let topology = ctx.topology_ref.to_string_lossy();
    let mean_ms = |consistency: &str| -> Result<f64, String> {
        let text = format!(
            "name = \"fidelity-tick-age\"\ntopology = {topology:?}\nduration = \"305s\"\nwarmup = \"5s\"\n\n[collection]\nrows = 1000\ndim = 128\nmetric = \"L2\"\nindex = \"FLAT\"\n\n[workload]\nsearch_qps = 20\nnq = 1\ntopk = 10\nconsistency = \"{consistency}\"\n"
        );
        let (s, _) = ctx.simulate(
            "fidelity-tick-age",
            &text,
            &Value::Null,
            CaseSpeed::default(),
            &|_| None,
        )?;
        lookup(&s, "requests.search.mean_ms")
            .ok_or_else(|| format!("no {consistency} search answered"))
    };
    Ok(mean_ms("Strong")? - mean_ms("Eventually")? - tick_interval_ms() / 2.0)
}

/// A search case's prediction: p50 ms, qps, how the others were replayed, the client
/// speed its server work was carried to (None: the records' work), and the time-tick
/// phase and share of stale ticks it was predicted with (None: the defaults).
type SearchPrediction = (f64, f64, Replay, Option<f64>, Option<f64>, Option<f64>);

/// Predicted (p50 ms, qps) of a search case; None for a case without figures.
fn search_case(
    ctx: &CaseContext<'_>,
    case: &Value,
    overhead: &ClientOverhead,
) -> Result<Option<SearchPrediction>, String> {
    let f = &case["figures"];
    if f["errors"].as_u64().unwrap_or(0) > 0 || f["qps"].as_f64().is_none() {
        return Ok(None);
    }
    let (dim, nq) = (int(case, "dim")?, int(case, "nq")?);
    let overhead_ms = overhead.ms(dim, nq);
    // The server's work at the speed the harness's client ran this case's searches
    // (ClientSpeed): the machine's speed over the case's own span. Not where others
    // were busy: the client's time then holds its waits behind their threads too,
    // which the replay plays already; such a case keeps the records' work.
    let speed = Some(case)
        .filter(|c| c["contention"]["contended"] != true)
        .and_then(|c| ctx.client_speed.of(c));
    let server_work = ctx.server_work.for_case(speed);
    let speed = speed.filter(|_| server_work.is_some());
    // The harness's client threads run on the measured machine: the SDK's CPU per
    // search comes out of the server's cores, at the case's speed as the server's work.
    let cpu_ns = (overhead.cpu_ms_at(dim, nq, speed) * 1e6).round() as u64;
    // Everything but the simulated length, built once for every try.
    let body = format!(
        "{}\n[workload]\nclients = {}\nthink_time = \"{}ns\"\nnq = {nq}\ntopk = {}\nsearch_params = {}\nconsistency = \"{}\"\nclient_host = {:?}\nclient_cpu = \"{cpu_ns}ns\"\n",
        collection(
            case,
            int(case, "rows")?,
            word(case, "index_type")?,
            &case["build_params"]
        )?,
        int(case, "concurrency")?,
        (overhead_ms * 1e6).round() as u64,
        int(case, "topk")?,
        inline_table(&case["search_params"])?,
        word(case, "consistency")?,
        ctx.host,
    );
    let topology = ctx.topology_ref.to_string_lossy();
    // The server's time ticks, as the probe before the case measured them.
    let (phase, stale) = tick_settings(ctx, case);
    let phase_line = phase.map_or(String::new(), |ms| {
        format!("tick_phase = \"{}ns\"\n", (ms * 1e6).floor() as u64)
    }) + &stale.map_or(String::new(), |s| format!("stale_ticks = {s}\n"));
    let mut seconds = SEARCH_SECONDS;
    loop {
        let text = format!(
            "name = \"fidelity-search\"\ntopology = {topology:?}\nduration = \"{seconds}s\"\nwarmup = \"{SEARCH_WARMUP_SECONDS}s\"\n{phase_line}\n{body}"
        );
        // The measured span: the searches after the warm-up.
        let (s, replay) = ctx.simulate(
            "fidelity-search",
            &text,
            &case["contention"],
            CaseSpeed {
                search_work: server_work,
                ..CaseSpeed::default()
            },
            &|_| Some((SEARCH_WARMUP_SECONDS as f64, seconds as f64)),
        )?;
        let answered = lookup(&s, "requests.search.ok").unwrap_or(0.0);
        if answered < SEARCH_MIN_ANSWERED && seconds < SEARCH_MAX_SECONDS {
            seconds *= 2;
            continue;
        }
        // No search answered even over the longest window: no median, no rate to
        // compare (NaN, never the client overhead alone).
        let p50 = lookup(&s, "requests.search.p50_ms").filter(|_| answered > 0.0);
        let qps = lookup(&s, "requests.search.qps").filter(|_| answered > 0.0);
        return Ok(Some((
            p50.map_or(f64::NAN, |p| p + overhead_ms),
            qps.unwrap_or(f64::NAN),
            replay,
            speed,
            phase,
            stale,
        )));
    }
}

/// How a measurement's own conditions move the machine's speed in its prediction.
#[derive(Clone, Copy, Debug, Default)]
struct CaseSpeed {
    /// A search case's per-search server work, ms and ms per query vector
    /// ([`ServerWork::for_case`]), instead of the records' the host class carries.
    search_work: Option<(f64, f64)>,
    /// The clock the machine ran its CPU work at, instead of the profile's: the insert
    /// knobs' machine slowed by the insert's client speed ([`insert_client_speed`]).
    clock_ghz: Option<f64>,
}

/// The CPU the insert knobs were measured on (src/milvus/overheads.rs:
/// INSERT_NS_PER_BYTE, the data node's decoding, buffering and binlog serialisation,
/// by CPU profiles on the quiet Xeon, checked against results-ingest-quiet.json), as
/// the harness records it (`machine.cpu_model`), and its clock as its calibration
/// measured it (profiles/xeon-2.5ghz-2core.toml, `machine.ghz`).
pub const INSERT_KNOB_CPU: &str = "Intel(R) Xeon(R) Processor @ 2.50GHz";
pub const INSERT_KNOB_GHZ: f64 = 3.089;
/// How fast the harness's client ran on that machine, quiet, the day the knobs were
/// measured: its own work per inserted row (`tolist_s + convert_s` of the insert
/// record: numpy's tolist and pymilvus's conversion of each batch, the same Python for
/// the same rows, run between the batch's RPCs), the mean of the five uncontended
/// ingests at each dim of results-ingest-quiet.json, the records the knobs were checked
/// against (the profiles they came from kept no client timings): (dim, µs a row).
pub const INSERT_KNOB_CLIENT_US_PER_ROW: [(f64, f64); 2] = [(128.0, 11.059), (768.0, 51.546)];

/// How many times slower the measured machine ran an insert than the quiet machine
/// the insert knobs were measured on: the insert's client work per row over the quiet
/// ingests' at its dim (a line through [`INSERT_KNOB_CLIENT_US_PER_ROW`]); the insert
/// is predicted on that machine's clock ([`INSERT_KNOB_GHZ`]) over it, whatever clock
/// the profile in use gives (the client's speed holds the clock's difference too).
/// The server's insert work is CPU on the same cores, so it moves with the client's:
/// the uncontended inserts of
/// the four full Xeon runs were predicted 1.02-2.04 times too fast, and their clients
/// ran 0.94-2.19 times the knobs' (README "Each case at its client's speed"). Only
/// for results measured on the knobs' CPU (another CPU's client speed says nothing
/// of the knobs'), and not beside busy others (the client's time then holds its waits
/// behind their threads, which the replay plays already). A measured condition of the
/// insert, like the others' CPU; its rate is never read.
fn insert_client_speed(cpu_model: &str, ds: &Value) -> Option<f64> {
    let insert = &ds["insert"];
    if cpu_model != INSERT_KNOB_CPU || insert["contention"]["contended"] == true {
        return None;
    }
    let rows = ds["rows"].as_f64().filter(|r| *r > 0.0)?;
    let client_us = (insert["tolist_s"].as_f64()? + insert["convert_s"].as_f64()?) / rows * 1e6;
    let dim = ds["dim"].as_f64()?;
    let [(d0, u0), (d1, u1)] = INSERT_KNOB_CLIENT_US_PER_ROW;
    let knob_us = u0 + (dim - d0) * (u1 - u0) / (d1 - d0);
    Some(client_us / knob_us).filter(|s| s.is_finite() && *s > 0.0 && knob_us > 0.0)
}

/// Insert rate, index build and load times of a data set: one ingest for the insert
/// rate, one per index the harness built for its build time (FLAT is not built,
/// reference real-milvus.md; no build row), and one per index for its load (ingest,
/// flush, create_index(), load()), each beside the other processes' CPU measured
/// during it. A data set of an ingest-only run (`harness.py --ingest-only`) has no
/// index, only its insert row; its repeats are told apart by `#k`.
fn ingest_rows(
    ctx: &CaseContext<'_>,
    ds: &Value,
    cases: &[Value],
    skipped: &mut Vec<String>,
) -> Result<Vec<Row>, String> {
    let name = ds["name"].as_str().unwrap_or("?");
    let label = match ds["repeat"].as_u64() {
        Some(k) => format!("{name}#{k}"),
        None => name.to_string(),
    };
    let insert = &ds["insert"];
    let mut rows = Vec::new();
    // `as_harness`: the collection has no index while the rows go in and is not loaded;
    // the application creates the index once flush() returned and loads the collection
    // once it is built, as the harness does.
    let experiment = |index: &str,
                      build: &Value,
                      search_params: &Value,
                      as_harness: bool|
     -> Result<String, String> {
        let ddl = if as_harness {
            "\n[workload.ddl]\ncreate_index = \"after_flush\"\nload = \"after_index\"\n"
        } else {
            ""
        };
        Ok(format!(
            "name = \"fidelity-ingest\"\ntopology = {:?}\nduration = \"{INGEST_SECONDS}s\"\n\n{}\n[workload]\nsearch_params = {}\n\n[workload.insert]\nrows = {}\nclients = 1\nbatch_rows = {}\nflush = true\n{ddl}",
            ctx.topology_ref.to_string_lossy(),
            collection(ds, 0, index, build)?,
            inline_table(search_params)?,
            int(ds, "rows")?,
            int(insert, "batch_rows")?,
        ))
    };
    if let Some(m) = insert["rows_per_s_rpc"].as_f64().filter(|m| *m > 0.0) {
        // The harness creates each index after the flush: the collection it inserts
        // into has none. The insert knob (overheads::INSERT_NS_PER_BYTE) is measured
        // on a quiet machine, so the others' CPU during the insert is replayed.
        let empty = Value::Object(Default::default());
        // The insert's server work at the speed its client ran against the quiet ingests the
        // knob was measured beside (insert_client_speed).
        let speed = insert_client_speed(ctx.cpu_model, ds).filter(|_| !ctx.server_work.steady);
        let (s, replay) = ctx.simulate(
            "fidelity-ingest",
            &experiment("FLAT", &empty, &empty, false)?,
            &insert["contention"],
            CaseSpeed {
                clock_ghz: speed.map(|s| INSERT_KNOB_GHZ / s),
                ..CaseSpeed::default()
            },
            &|s| Some((lookup(s, "ingest.started_s")?, lookup(s, "ingest.acked_s")?)),
        )?;
        match lookup(&s, "ingest.rows_per_s") {
            Some(p) => {
                let mut row = ctx.row(
                    format!("{label}/insert"),
                    Figure::InsertRowsPerS,
                    (m, p),
                    &insert["contention"],
                    replay,
                );
                row.client_speed = speed;
                rows.push(row);
            }
            None => skipped.push(format!("{label} insert: the simulated ingest gave no rate")),
        }
    }
    for ix in ds["indexes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let index = word(ix, "index_type")?;
        // An ingest-only workload still names the search parameters its index needs.
        let Some(search_params) = cases
            .iter()
            .find(|c| c["dataset"] == name && c["index_type"] == index)
            .map(|c| c["search_params"].clone())
        else {
            skipped.push(format!(
                "{name} {index}: no search case names its parameters"
            ));
            continue;
        };
        let build = &ix["build_params"];
        if index != "FLAT" {
            // As the harness does it: no index while the rows go in, create_index()
            // once flush() returned, nothing loaded until the build is done (so no
            // query node loads beside it).
            let (s, replay) = ctx.simulate(
                "fidelity-build",
                &experiment(index, build, &search_params, true)?,
                &ix["build_contention"],
                CaseSpeed::default(),
                &|s| {
                    Some((
                        lookup(s, "ddl.create_index_called_s")?,
                        lookup(s, "ingest.indexed_s")?,
                    ))
                },
            )?;
            let (called, indexed) = (
                lookup(&s, "ddl.create_index_called_s"),
                lookup(&s, "ingest.indexed_s"),
            );
            match (ix["build_s"].as_f64().filter(|m| *m > 0.0), called, indexed) {
                // From the application's create_index() to the last segment indexed.
                (Some(m), Some(c), Some(i)) => rows.push(ctx.row(
                    format!("{name}/{index}/build"),
                    Figure::IndexBuildS,
                    (m, i - c),
                    &ix["build_contention"],
                    replay,
                )),
                _ => skipped.push(format!(
                    "{name} {index}: no build time measured, or the simulated build did not finish"
                )),
            }
        }
        // The load: from the application's load() to every segment and channel
        // served (what pymilvus's loading progress reaches 100 % at), beside the
        // others' CPU during the measured load. The model loads the segments its own
        // ingest left (at dim 768 unmerged; the harness's second and third indexes
        // load the one segment compaction made during the FLAT cases).
        let Some(m) = ix["load_s"].as_f64().filter(|m| *m > 0.0) else {
            continue;
        };
        let (s, replay) = ctx.simulate(
            "fidelity-load",
            &experiment(index, build, &search_params, true)?,
            &ix["load_contention"],
            CaseSpeed::default(),
            &|s| Some((lookup(s, "ddl.load_called_s")?, lookup(s, "ddl.loaded_s")?)),
        )?;
        match (lookup(&s, "ddl.load_called_s"), lookup(&s, "ddl.loaded_s")) {
            (Some(called), Some(loaded)) => rows.push(ctx.row(
                format!("{name}/{index}/load"),
                Figure::LoadS,
                (m, loaded - called),
                &ix["load_contention"],
                replay,
            )),
            _ => skipped.push(format!(
                "{name} {index}: the simulated load() did not finish"
            )),
        }
    }
    Ok(rows)
}

impl Report {
    /// The table people read.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "simctl fidelity {}: {} figures; standalone on {} cores, {:.1} GiB, {} (measured on {})",
            self.results.display(),
            self.rows.len(),
            self.cores,
            self.memory_bytes as f64 / (1u64 << 30) as f64,
            self.host_clock,
            self.machine
        );
        if let Some(cpu) = &self.other_profile_cpu {
            let _ = writeln!(
                s,
                "note: the profile was measured on {cpu}, the results on {}: the kernels are priced for the profile's machine\n  hint: give --profile FILE from `simctl calibrate` on the measuring machine, or run the harness with --calibrate",
                self.machine
            );
        }
        for line in self.calibration.iter().flat_map(Calibration::lines) {
            let _ = writeln!(s, "{line}");
        }
        if let Some(e) = &self.calibration_unused {
            let _ = writeln!(
                s,
                "the results file's own calibration is not compared (--profile given; its record cannot be used):\n{e}"
            );
        }
        match self.overhead.fixed_ms {
            Some(ms) => {
                let _ = writeln!(s, "client overhead: {ms:.3} ms (--client-overhead-ms)");
            }
            None => {
                let per: Vec<String> = self
                    .overhead
                    .measured
                    .iter()
                    .map(|(d, n, ms, cpu, _)| {
                        format!("dim {d} nq {n}: {ms:.3} ms ({cpu:.3} ms CPU)")
                    })
                    .collect();
                let _ = writeln!(
                    s,
                    "client overhead (SDK request building and reply parsing plus one loopback RPC; the client's CPU per search on the server's machine; as the 100-row records measured them): {}{}",
                    if per.is_empty() { "none recorded, 0 ms".into() } else { per.join(", ") },
                    if self.rows.iter().any(|r| r.figure == Figure::SearchP50Ms && r.client_speed.is_some()) {
                        "; an uncontended case's client CPU is its record's carried to the run's fastest client, at the case's own speed (as the server work below)"
                    } else {
                        ""
                    }
                );
            }
        }
        let _ = writeln!(s, "{}", self.server_work.line());
        let _ = writeln!(s, "{}", self.server_work_per_case);
        let _ = writeln!(s, "{}", self.insert_work);
        // Per probed case (its median row), the phase and stale share it was given.
        let probed: Vec<&Row> = (self.rows.iter())
            .filter(|r| r.figure == Figure::SearchP50Ms && r.tick_phase_ms.is_some())
            .collect();
        let span = |v: Vec<f64>, digits: usize| -> String {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            match v.is_empty() {
                true => "none".into(),
                false => format!("{lo:.digits$}-{hi:.digits$}"),
            }
        };
        let _ = match (self.tick_phase_ms, self.model_tick_age_ms) {
            (Some(ms), _) => writeln!(
                s,
                "time-tick phase: rootcoord's loop {ms} ms after the proxy's reports (--tick-phase-ms)"
            ),
            (None, Some(model)) => writeln!(
                s,
                "time ticks: each Strong case's from the tick probe before it: the phase (its youngest tick's age, less the model's {model:.1} ms at phase 0) {} ms, stale ticks {}, over {} cases (--out: tick_phase_ms, stale_ticks; --tick-phase-ms gives every case one phase and no stale ticks)",
                span(probed.iter().filter_map(|r| r.tick_phase_ms).collect(), 0),
                span(probed.iter().filter_map(|r| r.stale_ticks).collect(), 2),
                probed.len()
            ),
            (None, None) => writeln!(
                s,
                "time-tick phase: rootcoord's loop with the proxy's reports, the youngest ticks (the default: the results file has no tick probe it can read; a server start sets its own phase: --tick-phase-ms)"
            ),
        };
        let _ = writeln!(s, "{}", self.bandwidth);
        let width = self
            .rows
            .iter()
            .map(|r| r.case.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            s,
            "\n{:<width$}  {:<17}  {:>11}  {:>11}  {:>9}  {:>6}  {:>7}  contended",
            "case", "figure", "measured", "predicted", "pred/meas", "others", "threads"
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{:<width$}  {:<17}  {:>11}  {:>11}  {:>9.2}  {:>6.2}  {:>7.2}  {}",
                r.case,
                r.figure.name(),
                number(r.measured),
                number(r.predicted),
                r.ratio(),
                r.others_cores,
                r.others_threads,
                if r.contended { "yes" } else { "no" }
            );
        }
        let _ = writeln!(
            s,
            "\ngeometric means of predicted/measured: ratio = exp(mean ln r) (bias), error = exp(mean |ln r|) (factor off)"
        );
        if !self.steady.is_empty() {
            let _ = writeln!(
                s,
                "  (steady: uncontended, and the speed probes around the measurement at most {STEADY_SLOWDOWN} times the run's fastest)"
            );
        }
        for (label, sums) in [
            ("all", &self.all),
            ("uncontended", &self.uncontended),
            ("steady", &self.steady),
        ] {
            for m in sums.iter() {
                let _ = writeln!(
                    s,
                    "  {:<11}  {:<17}  n {:>3}  ratio {:>6.2}  error x{:.2}",
                    label,
                    m.figure.name(),
                    m.rows,
                    m.ratio,
                    m.error
                );
            }
        }
        // How well the measured conditions were reproduced, one count per measurement
        // (a search case's median and rate share theirs).
        let records: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.figure != Figure::SearchQps)
            .collect();
        let busy: Vec<&&Row> = records.iter().filter(|r| r.others_cores > 0.0).collect();
        let others_held = busy
            .iter()
            .filter(|r| {
                r.others_replayed
                    .is_some_and(|g| (g - r.others_cores).abs() <= OTHERS_TOLERANCE_CORES)
            })
            .count();
        let with_server: Vec<(f64, f64)> = records
            .iter()
            .filter_map(|r| Some((r.server_cores?, r.server_replayed?)))
            .collect();
        let server_held = with_server
            .iter()
            .filter(|(real, model)| (real - model).abs() <= 0.1)
            .count();
        let _ = writeln!(
            s,
            "replayed: the others' CPU within {OTHERS_TOLERANCE_CORES} core of the measured in {others_held} of {} measurements beside others; the simulated server's CPU within 0.1 core of the real one's in {server_held} of {} (--out: others_replayed, server_replayed)",
            busy.len(),
            with_server.len()
        );
        for k in &self.skipped {
            let _ = writeln!(s, "skipped: {k}");
        }
        s
    }

    pub fn json(&self) -> Value {
        let sums = |v: &[Summary]| -> Vec<Value> {
            v.iter()
                .map(|m| {
                    json!({"figure": m.figure.name(), "rows": m.rows, "ratio": m.ratio, "error": m.error})
                })
                .collect()
        };
        json!({
            "results": self.results.to_string_lossy(),
            "tick_phase_ms": self.tick_phase_ms,
            "model_tick_age_ms": self.model_tick_age_ms,
            "cores": self.cores,
            "memory_bytes": self.memory_bytes,
            "client_overhead_ms": match self.overhead.fixed_ms {
                Some(ms) => json!(ms),
                None => json!(self.overhead.measured.iter().map(|(d, n, ms, cpu, speed)| json!({"dim": d, "nq": n, "ms": ms, "cpu_ms": cpu, "client_speed": speed})).collect::<Vec<_>>()),
            },
            "search_server_cpu": {
                "used": if self.server_work.used().2 { "run" } else { "model" },
                "ms": self.server_work.used().0,
                "ms_per_query": self.server_work.used().1,
                "run": self.server_work.measured.map(|(f, q, n)| json!({"ms": f, "ms_per_query": q, "records": n, "per_query_from_model": self.server_work.slope_from_model})),
                "at_fastest": self.server_work.at_fastest.map(|(f, q)| json!({"ms": f, "ms_per_query": q})),
                "per_case": self.rows.iter().any(|r| r.figure == Figure::SearchP50Ms && r.client_speed.is_some()),
                "model": {"ms": self.server_work.model.0, "ms_per_query": self.server_work.model.1},
            },
            "rows": self.rows.iter().map(|r| json!({
                "case": r.case,
                "figure": r.figure.name(),
                "measured": r.measured,
                "predicted": r.predicted,
                "ratio": r.ratio(),
                "contended": r.contended,
                "others_cores": r.others_cores,
                "others_threads": r.others_threads,
                "others_replayed": r.others_replayed,
                "server_cores": r.server_cores,
                "server_replayed": r.server_replayed,
                "slowdown": r.slowdown,
                "bandwidth_scale": r.bandwidth_scale,
                "client_speed": r.client_speed,
                "tick_phase_ms": r.tick_phase_ms,
                "stale_ticks": r.stale_ticks,
            })).collect::<Vec<_>>(),
            "geomean": {"all": sums(&self.all), "uncontended": sums(&self.uncontended), "steady": sums(&self.steady)},
            "skipped": self.skipped,
            "calibration": self.calibration.as_ref().map(Calibration::json),
        })
    }

    pub fn csv(&self) -> String {
        let mut s =
            String::from("case,figure,measured,predicted,ratio,contended,others_cores,slowdown,others_threads,others_replayed,server_cores,server_replayed,bandwidth_scale,client_speed,tick_phase_ms,stale_ticks\n");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                r.case,
                r.figure.name(),
                r.measured,
                r.predicted,
                r.ratio(),
                r.contended,
                r.others_cores,
                r.slowdown.map_or(String::new(), |x| x.to_string()),
                r.others_threads,
                r.others_replayed.map_or(String::new(), |x| x.to_string()),
                r.server_cores.map_or(String::new(), |x| x.to_string()),
                r.server_replayed.map_or(String::new(), |x| x.to_string()),
                r.bandwidth_scale.map_or(String::new(), |x| x.to_string()),
                r.client_speed.map_or(String::new(), |x| x.to_string()),
                r.tick_phase_ms.map_or(String::new(), |x| x.to_string()),
                r.stale_ticks.map_or(String::new(), |x| x.to_string())
            );
        }
        s
    }
}

/// A figure with three significant digits or more.
fn number(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe as measure.py `tick_age` writes it: 40 searches, one each 205 ms, the
    /// ticks arriving at `arrival` ms of each 200-ms interval on the probe's clock; a
    /// search is freed by the first tick after it unless `stale(k)` (that tick carries
    /// an old timestamp), then by the next.
    fn probe(arrival: f64, stale: impl Fn(usize) -> bool) -> Value {
        let searches: Vec<Value> = (0..40)
            .map(|k| {
                let at = 50.0 + 205.0 * k as f64;
                let ahead = (arrival - at).rem_euclid(200.0);
                let wait = if stale(k) { ahead + 200.0 } else { ahead };
                json!([at, wait + 1.0])
            })
            .collect();
        json!({"tick_probe": {"age_ms": 6.0, "eventually_ms_p50": 1.0, "open_loop": searches}})
    }

    /// Of the searches issued half an interval or more before the next tick, the share
    /// that tick did not free; wherever in the interval the ticks arrive.
    #[test]
    fn a_tick_probe_counts_the_ticks_that_did_not_free_the_searches_well_before_them() {
        for arrival in [3.0, 102.5, 197.0] {
            let fresh = TickProbe::of(&probe(arrival, |_| false)).unwrap();
            assert_eq!(
                fresh,
                TickProbe {
                    age_ms: 6.0,
                    stale: Some(0.0)
                }
            );
            let quarter = TickProbe::of(&probe(arrival, |k| k % 4 == 0)).unwrap();
            let share = quarter.stale.unwrap();
            assert!((share - 0.25).abs() < 0.1, "{arrival}: {quarter:?}");
            let all = TickProbe::of(&probe(arrival, |_| true)).unwrap();
            assert_eq!(all.stale, Some(1.0), "{arrival}");
        }
    }

    /// An older results file's probe without its searches, or without the Eventually
    /// latency, gives no probe: the case keeps the defaults. Searches freed at no
    /// common phase show no tick schedule. Too few searches to tell a stale tick, or a
    /// youngest tick nearly an interval old, still give the age, without a share.
    #[test]
    fn a_tick_probe_without_its_searches_is_none_and_one_that_cannot_tell_has_no_share() {
        assert_eq!(TickProbe::of(&json!({"tick_probe": {"age_ms": 6.0}})), None);
        assert_eq!(TickProbe::of(&json!({})), None);
        let mut no_eventually = probe(100.0, |_| false);
        no_eventually["tick_probe"]["eventually_ms_p50"] = Value::Null;
        assert_eq!(TickProbe::of(&no_eventually), None);
        let mut scattered = probe(100.0, |_| false);
        for (k, s) in (scattered["tick_probe"]["open_loop"].as_array_mut().unwrap())
            .iter_mut()
            .enumerate()
        {
            s[1] = json!(1.0 + (k * 37 % 200) as f64);
        }
        assert_eq!(TickProbe::of(&scattered), None);
        let mut few = probe(100.0, |_| false);
        few["tick_probe"]["open_loop"]
            .as_array_mut()
            .unwrap()
            .truncate(6);
        assert_eq!(TickProbe::of(&few).map(|p| p.stale), Some(None));
        let mut old = probe(100.0, |_| false);
        old["tick_probe"]["age_ms"] = json!(185.0);
        assert_eq!(
            TickProbe::of(&old),
            Some(TickProbe {
                age_ms: 185.0,
                stale: None
            })
        );
    }

    /// The reference is the fastest probe anywhere in the file, the start figure
    /// included; a record without both probes has no slowdown.
    #[test]
    fn a_measurement_is_slowed_by_its_probes_over_the_runs_fastest() {
        let results = json!({
            "machine": {"speed_probe": {"cpu_ms": 18.0, "memory_ms": 8.0}},
            "cases": [
                {"contention": {"probe_before": {"cpu_ms": 9.5}, "probe_after": {"cpu_ms": 10.5}}},
                {"contention": {"probe_before": {"cpu_ms": 19.0}, "probe_after": {"cpu_ms": 21.0}}},
            ],
        });
        let fastest = fastest_probe(&results);
        assert_eq!(fastest, Some(9.5));
        let case = |i: usize| slowdown(&results["cases"][i]["contention"], fastest);
        assert!((case(0).unwrap() - 10.0 / 9.5).abs() < 1e-12);
        assert!((case(1).unwrap() - 20.0 / 9.5).abs() < 1e-12);
        assert!(case(1).unwrap() > STEADY_SLOWDOWN && case(0).unwrap() <= STEADY_SLOWDOWN);
        let one_probe = json!({"probe_before": {"cpu_ms": 9.5}});
        assert_eq!(slowdown(&one_probe, fastest), None);
        assert_eq!(fastest_probe(&json!({"cases": []})), None);
    }

    #[test]
    fn the_nearest_overhead_record_serves_a_case() {
        let o = ClientOverhead {
            measured: vec![
                (128, 1, 0.4, 0.2, Some(2.0)),
                (768, 1, 0.5, 0.3, None),
                (128, 100, 2.0, 1.5, Some(1.0)),
            ],
            fixed_ms: None,
        };
        assert_eq!(o.ms(128, 1), 0.4);
        assert_eq!(o.ms(700, 1), 0.5);
        assert_eq!(o.ms(768, 10), 0.5);
        assert_eq!(o.ms(128, 80), 2.0);
        let o2 = o.clone();
        let fixed = ClientOverhead {
            fixed_ms: Some(1.0),
            ..o
        };
        assert_eq!(fixed.ms(128, 1), 1.0);
        // The client's CPU is the nearest record's, or the value given for both; at a
        // case's speed, the record's over its own speed times the case's.
        assert_eq!(o2.cpu_ms_at(128, 80, None), 1.5);
        assert_eq!(o2.cpu_ms_at(768, 1, None), 0.3);
        assert_eq!(fixed.cpu_ms_at(768, 1, None), 1.0);
        assert!((o2.cpu_ms_at(128, 1, Some(3.0)) - 0.3).abs() < 1e-12);
        assert_eq!(
            o2.cpu_ms_at(768, 1, Some(3.0)),
            0.3,
            "a record without a speed"
        );
        assert_eq!(fixed.cpu_ms_at(128, 1, Some(3.0)), 1.0);
    }

    #[test]
    fn parameters_become_an_inline_table() {
        let v: Value = serde_json::from_str(r#"{"M": 16, "efConstruction": 200}"#).unwrap();
        assert_eq!(
            inline_table(&v).unwrap(),
            "{ M = 16, efConstruction = 200 }"
        );
        assert_eq!(inline_table(&json!({})).unwrap(), "{}");
        assert!(inline_table(&json!({"ef": "x"})).is_err());
    }
}
