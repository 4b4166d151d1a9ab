//! Playing an experiment forward and writing its results.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::engine::{SimDuration, SimTime, NS_PER_S};
use crate::hw::buckets::FineBuckets;
use crate::milvus::{build_cluster, plan, Layout};
use crate::report::output::StagedDir;
use crate::report::summary::{self, RunFigures};
use crate::report::tables::{self, SeriesRow};
use crate::scenario::experiment::Experiment;
use crate::scenario::InputErrors;

/// Where a run stands, for progress displays.
pub struct Progress {
    pub sim_now: SimTime,
    pub sim_end: SimTime,
    pub events: u64,
    pub wall_seconds: f64,
}

/// Everything a finished run produced, before it is written.
pub struct RunResult {
    pub summary: Value,
    pub assertions_passed: bool,
    pub events: u64,
    pub wall_seconds: f64,
    requests_rows: crate::report::recorder::Recorder,
    series: Vec<SeriesRow>,
    /// The host [`simulate_tracking`] followed: the model's and the processes outside
    /// the model's (`background_cores`) CPU use in short buckets; not part of the outputs.
    pub fine_usage: Option<(FineBuckets, FineBuckets)>,
}

/// Checks an experiment fully (files, placement, fit) without running it.
pub fn prepare(exp_path: &Path, sets: &[String]) -> Result<(Experiment, Layout), InputErrors> {
    let exp = crate::scenario::load_experiment(exp_path, sets)?;
    let layout = plan(&exp)?;
    Ok((exp, layout))
}

/// Runs the simulation to the experiment's end, calling `progress` once per simulated
/// second.
pub fn simulate(
    exp: &Experiment,
    layout: Layout,
    progress: &mut dyn FnMut(&Progress),
) -> RunResult {
    simulate_inner(exp, layout, progress, None)
}

/// [`simulate`], keeping host `host`'s CPU use in short buckets
/// ([`RunResult::fine_usage`]).
pub fn simulate_tracking(exp: &Experiment, layout: Layout, host: usize) -> RunResult {
    simulate_inner(exp, layout, &mut |_| {}, Some(host))
}

fn simulate_inner(
    exp: &Experiment,
    layout: Layout,
    progress: &mut dyn FnMut(&Progress),
    track: Option<usize>,
) -> RunResult {
    let wall = Instant::now();
    let mut sim = build_cluster(exp, layout);
    if let Some(host) = track {
        sim.world_mut().hosts[host].cpu.track_fine();
    }
    let end = SimTime::ZERO + exp.duration;
    let mut t = SimTime::ZERO;
    while t < end {
        t = (t + SimDuration::from_secs(1)).min(end);
        sim.run_until(t);
        progress(&Progress {
            sim_now: t,
            sim_end: end,
            events: sim.events_processed(),
            wall_seconds: wall.elapsed().as_secs_f64(),
        });
    }
    let events = sim.events_processed();
    let mut world = sim.into_world();
    world.close_incomplete();
    for h in &mut world.hosts {
        h.cpu.sync(end);
    }

    let seconds = end.0.div_ceil(NS_PER_S) as usize;
    let mut series = Vec::new();
    for s in 0..seconds {
        for u in &world.usage {
            if !u.simulated {
                continue;
            }
            let host = &world.hosts[u.host];
            series.push(SeriesRow {
                t_s: s as u64,
                host: host.spec.name.clone(),
                service: u.service.clone(),
                cpu_util: host.cpu.busy(u.cpu_owner).get(s)
                    / (NS_PER_S as f64 * host.spec.cores as f64),
                mem_bytes: u.memory_at(s),
                net_tx_bytes: u.net_tx.get(s).round() as u64,
                net_rx_bytes: u.net_rx.get(s).round() as u64,
                disk_read_bytes: u.disk_read.get(s).round() as u64,
                disk_write_bytes: u.disk_write.get(s).round() as u64,
                queue_max: u.queue_max.get(s).copied().unwrap_or(0),
                requests: 0,
                p50_ms: None,
                p99_ms: None,
            });
        }
    }
    series.extend(tables::request_series(&world.rec.requests, seconds));

    let fine_usage = track.and_then(|host| world.hosts[host].cpu.fine_usage().cloned());
    let mut hosts = Vec::new();
    for h in &world.hosts {
        let cores_ns = NS_PER_S as f64 * h.spec.cores as f64;
        // Every process on the host, clients placed there too.
        let per_second: Vec<f64> = (0..seconds)
            .map(|s| {
                (0..h.cpu.owners())
                    .map(|o| h.cpu.busy(o).get(s))
                    .sum::<f64>()
                    / cores_ns
            })
            .collect();
        let mean = if seconds > 0 {
            per_second.iter().sum::<f64>() / seconds as f64
        } else {
            0.0
        };
        let peak = per_second.iter().copied().fold(0.0, f64::max);
        hosts.push((h.spec.name.clone(), h.memory.peak_bytes(), mean, peak));
    }
    let figures = RunFigures {
        events_processed: events,
        sim_end: end,
        acked_rows: world.ingest.acked_rows,
        durable_rows: world.ingest.persisted_rows,
        ingest: {
            let mut sections = world.ingest.summary().unwrap_or(serde_json::json!({}));
            let ing = &mut world.ingest;
            ing.deletes.marked_rows = ing
                .segments
                .iter()
                .filter(|s| s.holds_rows())
                .map(|s| s.deleted)
                .sum();
            if let Some(deletes) = world.ingest.deletes.summary() {
                sections["deletes"] = deletes;
            }
            let ing = &mut world.ingest;
            ing.upserts.live_rows = ing
                .segments
                .iter()
                .filter(|s| s.holds_rows())
                .map(|s| s.live_rows())
                .sum();
            if let Some(upserts) = world.ingest.upserts.summary() {
                sections["upserts"] = upserts;
            }
            if !world.minio_tasks.is_empty() {
                sections["storage"] = world.storage.summary();
                if !world.nginx_tasks.is_empty() {
                    let servers: Vec<String> = world
                        .minio_tasks
                        .iter()
                        .map(|&m| world.tasks[m].service.clone())
                        .collect();
                    sections["storage"]["nginx"] = world.upstream.summary(&servers);
                }
            }
            if let Some(ddl) = world.ddl.summary() {
                sections["ddl"] = ddl;
            }
            Some(sections)
        },
        hosts,
        faults: world
            .faults
            .iter()
            .map(|f| (f.detected_at, f.bytes_reloaded, f.bytes_rebalanced))
            .collect(),
    };
    let mut summary = summary::build(exp, &world.rec, &figures);
    let assertions_passed = summary::apply_assertions(exp, &mut summary);
    RunResult {
        summary,
        assertions_passed,
        events,
        wall_seconds: wall.elapsed().as_secs_f64(),
        requests_rows: world.rec,
        series,
        fine_usage,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn to_json(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("JSON values serialise");
    s.push('\n');
    s
}

/// Writes the six files of the output contract into `out`, atomically.
pub fn write_outputs(exp: &Experiment, result: &RunResult, out: &Path) -> Result<PathBuf, String> {
    let staged = StagedDir::create(out)?;
    let write = |name: &str, text: String| {
        std::fs::write(staged.path(name), text).map_err(|e| format!("cannot write {name}: {e}"))
    };
    write("summary.json", to_json(&result.summary))?;
    tables::write_requests(&result.requests_rows, &staged.path("requests.parquet"))?;
    tables::write_timeseries(&result.series, &staged.path("timeseries.parquet"))?;
    tables::write_events(&result.requests_rows, &staged.path("events.parquet"))?;
    let original = std::fs::read(&exp.path)
        .map_err(|e| format!("cannot re-read {}: {e}", exp.path.display()))?;
    let mut inputs = vec![
        // Paths as the files name each other, so the manifest does not depend on
        // where simctl was started from.
        json!({ "role": "experiment", "path": exp.path.file_name().map(|f| f.to_string_lossy().into_owned()), "sha256": sha256_hex(&original) }),
        json!({ "role": "topology", "path": exp.topology_ref, "sha256": sha256_hex(exp.topology.text.as_bytes()) }),
    ];
    let machine = &exp.profile.profile.machine;
    let mut profile = json!({
        "source": "built-in reference",
        "path": null,
        "sha256": sha256_hex(crate::calibrate::profile::REFERENCE_TOML.as_bytes()),
        "cpu_model": machine.cpu_model,
        "ghz": machine.ghz,
        "isa": machine.isa.name(),
        "quick": machine.quick,
    });
    if let Some((path, sha256)) = &exp.profile.file {
        let name = path.file_name().map(|f| f.to_string_lossy().into_owned());
        inputs.push(json!({ "role": "calibration_profile", "path": name, "sha256": sha256 }));
        profile["source"] = json!("file");
        profile["path"] = json!(name);
        profile["sha256"] = json!(sha256);
    }
    let manifest = json!({
        "simctl_version": env!("CARGO_PKG_VERSION"),
        "experiment": exp.name,
        "seed": exp.seed,
        "sets": exp.sets,
        "inputs": inputs,
        "calibration_profile": profile,
        "outputs": ["summary.json", "requests.parquet", "timeseries.parquet", "events.parquet", "manifest.json", "perf.json"],
    });
    write("manifest.json", to_json(&manifest))?;
    let perf = json!({
        "wall_seconds": result.wall_seconds,
        "events": result.events,
        "events_per_second": if result.wall_seconds > 0.0 { result.events as f64 / result.wall_seconds } else { 0.0 },
        "sim_seconds_per_wall_second": exp.duration.as_secs_f64() / result.wall_seconds.max(1e-9),
    });
    write("perf.json", to_json(&perf))?;
    staged.commit()
}
