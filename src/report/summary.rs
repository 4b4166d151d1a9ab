//! summary.json: the headline figures of a run, and assertions over them.

use serde_json::{json, Map, Value};

use crate::engine::{SimDuration, SimTime, NS_PER_S};
use crate::scenario::experiment::{Arrivals, DeleteBy, Experiment, InsertArrivals, Workload};
use crate::scenario::topology::Topology;

use super::recorder::{Recorder, RequestRow, Status};

/// Figures of the whole run that the summary needs besides the recorder.
pub struct RunFigures {
    pub events_processed: u64,
    pub sim_end: SimTime,
    pub acked_rows: u64,
    pub durable_rows: u64,
    /// (host, peak memory bytes, mean CPU utilisation, peak 1-second CPU utilisation)
    pub hosts: Vec<(String, u64, f64, f64)>,
    /// Per fault of the experiment: when the cluster noticed it, bytes reloaded.
    pub faults: Vec<(Option<SimTime>, u64, u64)>,
    /// The write path's `ingest`, `index`, `segments` and `deletes` sections, when
    /// it ran, and object storage's `storage`.
    pub ingest: Option<Value>,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Nearest-rank percentile of sorted nanoseconds, in ms; None when there are none.
pub fn percentile_ms(sorted: &[u64], p: f64) -> Option<f64> {
    (!sorted.is_empty()).then(|| ms(percentile(sorted, p)))
}

/// The `kind` column of `requests.parquet`, and the tables of `requests` in the summary.
pub const REQUEST_KINDS: [&str; 5] = ["search", "insert", "query", "delete", "upsert"];

pub fn build(exp: &Experiment, rec: &Recorder, run: &RunFigures) -> Value {
    let warmup = SimTime::ZERO + exp.warmup;
    let measured_s = run.sim_end.since(warmup).as_secs_f64();
    let mut kinds: Map<String, Value> = Map::new();
    let w = &exp.workload;
    // Searches and inserts always have a table; queries, deletes and upserts when
    // offered.
    let present = [
        true,
        true,
        w.query.is_some(),
        w.delete.is_some(),
        w.upsert.is_some(),
    ];
    for (kind, _) in REQUEST_KINDS.into_iter().zip(present).filter(|k| k.1) {
        let rows: Vec<_> = rec
            .requests
            .iter()
            .filter(|r| r.kind == kind && r.start >= warmup)
            .collect();
        let mut lat: Vec<u64> = rows
            .iter()
            .filter(|r| r.status == Status::Ok)
            .map(|r| r.end.expect("finished").since(r.start).as_nanos())
            .collect();
        lat.sort_unstable();
        let ok = lat.len() as u64;
        let failed = rows.iter().filter(|r| r.status == Status::Error).count() as u64;
        let incomplete = rows
            .iter()
            .filter(|r| r.status == Status::Incomplete)
            .count() as u64;
        let mut errors: Map<String, Value> = Map::new();
        for r in rows.iter().filter(|r| r.status == Status::Error) {
            let e = errors
                .entry(r.error.unwrap_or("unknown").to_string())
                .or_insert(json!(0));
            *e = json!(e.as_u64().unwrap_or(0) + 1);
        }
        let offered = match (kind, &exp.workload.arrivals, &exp.workload.insert) {
            ("search", Arrivals::OpenLoop { qps }, _) => json!(qps),
            ("search", Arrivals::Off, _) => json!(0.0),
            ("insert", _, None) => json!(0.0),
            ("insert", _, Some(i)) => match i.arrivals {
                InsertArrivals::Rate(rows) => json!(rows / i.batch_rows as f64),
                InsertArrivals::Clients(_) => Value::Null,
            },
            ("query", _, _) => match w.query.as_ref().map(|q| &q.arrivals) {
                Some(Arrivals::OpenLoop { qps }) => json!(qps),
                _ => Value::Null,
            },
            ("delete", _, _) => match &w.delete {
                Some(d) => json!(d.rate / d.batch_rows as f64),
                None => Value::Null,
            },
            ("upsert", _, _) => match w.upsert.as_ref().map(|u| (&u.arrivals, u.batch_rows)) {
                Some((InsertArrivals::Rate(rows), batch)) => json!(rows / batch as f64),
                _ => Value::Null,
            },
            _ => Value::Null,
        };
        let mean = if ok > 0 {
            lat.iter().sum::<u64>() as f64 / ok as f64
        } else {
            0.0
        };
        kinds.insert(
            kind.to_string(),
            json!({
                "count": rows.len(),
                "ok": ok,
                "failed": failed,
                "incomplete": incomplete,
                "offered_qps": offered,
                "qps": if measured_s > 0.0 { ok as f64 / measured_s } else { 0.0 },
                "p50_ms": ms(percentile(&lat, 0.50)),
                "p95_ms": ms(percentile(&lat, 0.95)),
                "p99_ms": ms(percentile(&lat, 0.99)),
                "mean_ms": mean / 1e6,
                "max_ms": ms(lat.last().copied().unwrap_or(0)),
                "errors": errors,
            }),
        );
    }
    if exp.workload.retry.retries > 0 {
        // Attempts sent again after a failure; a request's row is its last attempt.
        kinds["search"]["retries"] = json!(rec.search_retries);
        if w.query.is_some() {
            kinds["query"]["retries"] = json!(rec.query_retries);
        }
    }
    let search = &kinds["search"];
    let ok = search["ok"].as_u64().unwrap_or(0);
    let failed = search["failed"].as_u64().unwrap_or(0);
    let count = search["count"].as_u64().unwrap_or(0);
    let incomplete = search["incomplete"].as_u64().unwrap_or(0);
    let availability = if ok + failed == 0 {
        1.0
    } else {
        ok as f64 / (ok + failed) as f64
    };
    // Saturated: the cluster did not keep up with the offered load (searches it
    // answered, failures other than overload refusals included, fall short), or a
    // sizeable share of requests was still queued when the run ended. Failures from
    // faults are not saturation.
    let refused: u64 = [
        "proxy task queue is full",
        "query node read task queue is full",
    ]
    .iter()
    .filter_map(|e| search["errors"][*e].as_u64())
    .sum();
    let answered_qps = if measured_s > 0.0 {
        (ok + failed - refused) as f64 / measured_s
    } else {
        0.0
    };
    let saturated = match search["offered_qps"].as_f64() {
        Some(offered) => answered_qps < 0.95 * offered || incomplete * 100 > count,
        None => incomplete * 100 > count,
    };
    let mut peak = Map::new();
    let mut hosts = Map::new();
    let mut busiest: Option<(&str, f64)> = None;
    for (name, bytes, mean, max) in &run.hosts {
        peak.insert(name.clone(), json!(bytes));
        let spec = &exp.topology.hosts[exp.topology.host_index(name).expect("a topology host")];
        hosts.insert(
            name.clone(),
            json!({ "class": spec.class, "peak_memory_bytes": bytes, "cpu_util_mean": mean, "cpu_util_peak": max }),
        );
        if busiest.is_none_or(|(_, b)| *mean > b) {
            busiest = Some((name, *mean));
        }
    }
    let (faults, after_recovery) = fault_figures(exp, rec, run);
    let error_window = faults
        .iter()
        .filter_map(|f| f["error_window_s"].as_f64())
        .fold(0.0, f64::max);
    let mut out = json!({
        "simctl_version": env!("CARGO_PKG_VERSION"),
        "experiment": exp.name,
        "seed": exp.seed,
        "sim_seconds": run.sim_end.0 as f64 / NS_PER_S as f64,
        "measured_seconds": measured_s,
        "events_processed": run.events_processed,
        "requests": kinds,
        "availability": availability,
        "saturated": saturated,
        "busiest_host": busiest.map(|(n, _)| n),
        "acked_rows_lost": run.acked_rows.saturating_sub(run.durable_rows),
        "peak_memory_bytes": peak,
        "hosts": hosts,
        "hardware": hardware(&exp.topology),
        "faults": faults,
        "error_window_s": error_window,
        "first_search_ok_s": rec
            .requests
            .iter()
            .filter(|r| r.kind == "search" && r.status == Status::Ok)
            .map(|r| secs(r.end.expect("finished")))
            .reduce(f64::min),
        "assertions": [],
    });
    out["requests"]["search"]["p99_ms_after_recovery"] = json!(after_recovery);
    if let Some(Value::Object(sections)) = &run.ingest {
        for (k, v) in sections {
            out[k.as_str()] = v.clone();
        }
    }
    out
}

/// How long before a fault its baseline latency is measured.
const BASELINE: SimDuration = SimDuration::from_secs(300);
/// Recovery is judged over windows of this length.
const RECOVERY_WINDOW: SimDuration = SimDuration::from_secs(10);
/// Recovered: p99 back within this factor of the pre-fault p99.
const RECOVERY_TOLERANCE: f64 = 1.10;

fn secs(t: SimTime) -> f64 {
    t.0 as f64 / NS_PER_S as f64
}

/// p99 of the searches that started in [from, to) and succeeded.
fn p99_between(rows: &[&RequestRow], from: SimTime, to: SimTime) -> Option<u64> {
    let mut lat: Vec<u64> = rows
        .iter()
        .filter(|r| r.status == Status::Ok && r.start >= from && r.start < to)
        .map(|r| r.end.expect("finished").since(r.start).as_nanos())
        .collect();
    if lat.is_empty() {
        return None;
    }
    lat.sort_unstable();
    Some(percentile(&lat, 0.99))
}

/// The first 10 s window from `from` on (ending by `until`) whose requests of `owned`
/// all succeed (no error of `errors` in it) with a p99 within 10 % of `base`.
fn recovery(
    owned: &[&RequestRow],
    errors: &[SimTime],
    base: u64,
    from: SimTime,
    until: SimTime,
) -> Option<SimTime> {
    let limit = (base as f64 * RECOVERY_TOLERANCE) as u64;
    let mut t = from;
    while t + RECOVERY_WINDOW <= until {
        let end = t + RECOVERY_WINDOW;
        let clean = !errors.iter().any(|&e| e >= t && e < end);
        if clean && p99_between(owned, t, end).is_some_and(|p| p <= limit) {
            return Some(t);
        }
        t += SimDuration::from_secs(1);
    }
    None
}

/// Recovery figures of each fault, and the p99 of searches after the last recovery.
///
/// A fault owns the requests that start between it and the next fault, and the
/// failures answered in that span but those of the application's own release() and
/// load() (`RequestRow::by_application`). Recovered, for searches and for inserts alike: the
/// first 10 s window, at or after the last error, whose requests all succeed with a
/// p99 within 10 % of the p99 of the 5 minutes before the fault. `recovered_at_s` is
/// the later of the two where both kinds run before and after the fault.
fn fault_figures(exp: &Experiment, rec: &Recorder, run: &RunFigures) -> (Vec<Value>, Option<f64>) {
    let searches: Vec<&RequestRow> = rec.requests.iter().filter(|r| r.kind == "search").collect();
    let mut order: Vec<usize> = (0..exp.faults.len()).collect();
    order.sort_by_key(|&i| (exp.faults[i].at, i));
    let mut out = vec![Value::Null; exp.faults.len()];
    let mut last_recovery: Option<Option<SimTime>> = None;
    for (k, &i) in order.iter().enumerate() {
        let f = &exp.faults[i];
        let at = SimTime::ZERO + f.at;
        let until = order
            .get(k + 1)
            .map(|&j| SimTime::ZERO + exp.faults[j].at)
            .unwrap_or(run.sim_end);
        let owned: Vec<&RequestRow> = searches
            .iter()
            .copied()
            .filter(|r| r.start >= at && r.start < until)
            .collect();
        // Failures are dated by when the client got the error, so a search sent just
        // before the fault and failed by it counts. Those the application's own
        // release() or load() caused are not the fault's, though no window holding
        // one counts as recovered.
        let failed: Vec<&RequestRow> = searches
            .iter()
            .copied()
            .filter(|r| r.status == Status::Error && r.end.is_some_and(|e| e >= at && e < until))
            .collect();
        let all_errors: Vec<SimTime> = failed.iter().filter_map(|r| r.end).collect();
        let errors: Vec<SimTime> = failed
            .iter()
            .filter(|r| !r.by_application)
            .filter_map(|r| r.end)
            .collect();
        let first = errors.iter().min().copied();
        let last = errors.iter().max().copied();
        // Inserts the fault made fail, dated the same way.
        let insert_errors: Vec<SimTime> = rec
            .requests
            .iter()
            .filter(|r| r.kind == "insert" && r.status == Status::Error && !r.by_application)
            .filter_map(|r| r.end)
            .filter(|&e| e >= at && e < until)
            .collect();
        let before_from = SimTime::ZERO
            + exp
                .warmup
                .max(SimDuration(f.at.0.saturating_sub(BASELINE.0)));
        let whole_second = |l: SimTime| SimTime(l.0.div_ceil(NS_PER_S) * NS_PER_S);
        let baseline = p99_between(&searches, before_from, at);
        let recovered = baseline.and_then(|base| {
            let from = last.map(whole_second).unwrap_or(at);
            recovery(&owned, &all_errors, base, from, until)
        });
        last_recovery = Some(recovered);
        let inserts: Vec<&RequestRow> =
            rec.requests.iter().filter(|r| r.kind == "insert").collect();
        let inserts_owned: Vec<&RequestRow> = inserts
            .iter()
            .copied()
            .filter(|r| r.start >= at && r.start < until)
            .collect();
        let insert_baseline = p99_between(&inserts, before_from, at);
        let insert_from = insert_errors
            .iter()
            .max()
            .copied()
            .map(whole_second)
            .unwrap_or(at);
        let inserts_recovered = insert_baseline
            .and_then(|base| recovery(&inserts_owned, &insert_errors, base, insert_from, until));
        let search_applies = baseline.is_some() && !owned.is_empty();
        // Inserts that never recovered count only while they are still offered a
        // window after their last error (a fixed number of rows may all be in before
        // a recovery could show).
        let insert_applies = insert_baseline.is_some()
            && (inserts_recovered.is_some()
                || inserts_owned
                    .iter()
                    .any(|r| r.start >= insert_from + RECOVERY_WINDOW));
        let recovered_all = match (search_applies, insert_applies) {
            (true, true) => recovered.zip(inserts_recovered).map(|(a, b)| a.max(b)),
            (false, true) => inserts_recovered,
            _ => recovered,
        };
        let during = p99_between(&owned, at, recovered.unwrap_or(until));
        // The steady state the fault left: the last 5 minutes it owns.
        let after_from = SimTime(until.0.saturating_sub(BASELINE.0)).max(at);
        let after = p99_between(&owned, after_from, until);
        let (detected, bytes, rebalanced) = run.faults[i];
        let target = f.target_name(&exp.topology, &exp.placement);
        out[i] = json!({
            "label": f.label,
            "kind": f.kind.name(),
            "target": target,
            "at_s": secs(at),
            "recover_at_s": f.recover_at.map(|r| secs(SimTime::ZERO + r)),
            "detected_at_s": detected.map(secs),
            "first_error_s": first.map(secs),
            "last_error_s": last.map(secs),
            "error_window_s": match (first, last) {
                (Some(a), Some(b)) => b.since(a).as_secs_f64(),
                _ => 0.0,
            },
            "failed_requests": errors.len(),
            "failed_inserts": insert_errors.len(),
            "first_insert_error_s": insert_errors.iter().min().copied().map(secs),
            "last_insert_error_s": insert_errors.iter().max().copied().map(secs),
            "recovered_at_s": recovered_all.map(secs),
            "inserts_recovered_at_s": inserts_recovered.map(secs),
            "insert_p99_ms_before": insert_baseline.map(ms),
            "p99_ms_before": baseline.map(ms),
            "p99_ms_during": during.map(ms),
            "p99_ms_after": after.map(ms),
            "bytes_reloaded": bytes,
            "bytes_rebalanced": rebalanced,
        });
    }
    let after = match last_recovery {
        Some(Some(t)) => p99_between(&searches, t, run.sim_end).map(ms),
        _ => None,
    };
    (out, after)
}

/// What the topology asks a team to buy: hosts, cores and memory, per class and in all.
fn hardware(t: &Topology) -> Value {
    let mut classes = Map::new();
    for class in &t.classes {
        let hosts: Vec<_> = t.hosts.iter().filter(|h| &h.class == class).collect();
        if hosts.is_empty() {
            continue;
        }
        classes.insert(
            class.clone(),
            json!({
                "hosts": hosts.len(),
                "cores": hosts.iter().map(|h| h.cores as u64).sum::<u64>(),
                "memory_bytes": hosts.iter().map(|h| h.memory_bytes).sum::<u64>(),
            }),
        );
    }
    json!({
        "hosts": t.hosts.len(),
        "cores": t.hosts.iter().map(|h| h.cores as u64).sum::<u64>(),
        "memory_bytes": t.hosts.iter().map(|h| h.memory_bytes).sum::<u64>(),
        "classes": classes,
    })
}

/// Looks up a dotted path in the summary; booleans read as 1 and 0.
pub fn lookup(summary: &Value, path: &str) -> Option<f64> {
    let mut v = summary;
    let mut rest = path;
    while !rest.is_empty() {
        if let Value::Array(items) = v {
            let (index, tail) = rest.split_once('.').unwrap_or((rest, ""));
            v = items.get(index.parse::<usize>().ok()?)?;
            rest = tail;
            continue;
        }
        // Host names may contain dots, so try the longest key that exists.
        let obj = v.as_object()?;
        let (key, tail) = match obj
            .keys()
            .filter(|k| rest == k.as_str() || rest.starts_with(&format!("{k}.")))
            .max_by_key(|k| k.len())
        {
            Some(k) => (k.clone(), rest[k.len()..].trim_start_matches('.')),
            None => return None,
        };
        v = &obj[&key];
        rest = tail;
    }
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

const TOP_LEVEL: &[&str] = &[
    "hardware.hosts",
    "hardware.cores",
    "hardware.memory_bytes",
    "sim_seconds",
    "measured_seconds",
    "events_processed",
    "availability",
    "saturated",
    "acked_rows_lost",
    "error_window_s",
    "first_search_ok_s",
];
const FAULT_FIGURES: &[&str] = &[
    "at_s",
    "recover_at_s",
    "detected_at_s",
    "first_error_s",
    "last_error_s",
    "error_window_s",
    "failed_requests",
    "failed_inserts",
    "first_insert_error_s",
    "last_insert_error_s",
    "recovered_at_s",
    "inserts_recovered_at_s",
    "insert_p99_ms_before",
    "p99_ms_before",
    "p99_ms_during",
    "p99_ms_after",
    "bytes_reloaded",
    "bytes_rebalanced",
];
const REQUEST_FIGURES: &[&str] = &[
    "retries",
    "count",
    "ok",
    "failed",
    "incomplete",
    "offered_qps",
    "qps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "mean_ms",
    "max_ms",
    "p99_ms_after_recovery",
];
const HOST_FIGURES: &[&str] = &["peak_memory_bytes", "cpu_util_mean", "cpu_util_peak"];
/// The write path's figures (present when the workload inserts).
const WRITE_FIGURES: &[&str] = &[
    "ingest.rows",
    "ingest.rows_offered",
    "ingest.rows_failed",
    "ingest.rows_flushed",
    "ingest.started_s",
    "ingest.acked_s",
    "ingest.seconds",
    "ingest.rows_per_s",
    "ingest.sealed_s",
    "ingest.flushed_s",
    "ingest.indexed_s",
    "ingest.loaded_s",
    "ingest.time_to_searchable_s",
    "ingest.load_refused_segments",
    "ingest.syncs",
    "ingest.forced_syncs",
    "index.builds",
    "index.seconds",
    "segments.created",
    "segments.sealed",
    "segments.flushed",
    "segments.indexed",
    "segments.loaded",
    "segments.growing_at_end",
    "segments.compacted",
    "segments.final",
    "compaction.plans",
    "compaction.segments_merged",
    "compaction.finished_s",
    "deletes.rows_offered",
    "deletes.rows",
    "deletes.rows_failed",
    "deletes.rows_persisted",
    "deletes.rows_unmatched",
    "deletes.rows_in_deltalogs",
    "deletes.rows_buffered_at_end",
    "deletes.rows_marked",
    "deletes.deltalogs",
    "deletes.deltalog_bytes",
    "deletes.compactions",
    "deletes.rows_compacted_away",
    "deletes.queries",
    "deletes.query_failed",
    "deletes.query_p50_ms",
    "deletes.query_p99_ms",
    "deletes.rows_scanned",
    "upserts.rows_offered",
    "upserts.rows",
    "upserts.rows_failed",
    "upserts.live_rows_at_end",
    "storage.bytes_at_start",
    "storage.peak_bytes",
    "storage.bytes_at_end",
    "storage.garbage_bytes_at_end",
    "storage.gc_runs",
    "storage.gc_removed_bytes",
    "storage.capacity_bytes",
    "storage.peak_fill",
    "storage.full_at_s",
    "ddl.create_index_s",
    "ddl.load_started_s",
    "ddl.loaded_s",
    "ddl.create_index_called_s",
    "ddl.create_index_ms",
    "ddl.load_called_s",
    "ddl.load_ms",
    "ddl.release_s",
    "ddl.released_s",
    "ddl.release_ms",
    "ddl.reload_s",
    "ddl.reload_started_s",
    "ddl.reload_ms",
    "ddl.reloaded_s",
    "ddl.unloaded_s",
    "ddl.create_s",
    "ddl.create_ms",
    "ddl.created_s",
    "ddl.drop_s",
    "ddl.drop_ms",
    "ddl.dropped_s",
    "ddl.drop_released_s",
    "ddl.drop_index_dropped_s",
    "ddl.drop_segments_dropped_s",
    "ddl.storage_freed_s",
    "ddl.meta_removed_s",
    "ddl.drop_bytes",
];

/// Checks that `path` names a figure the summary will have for this topology and an
/// experiment with `faults` faults.
pub fn check_path(path: &str, topo: &Topology, faults: usize) -> Result<(), String> {
    if TOP_LEVEL.contains(&path) || WRITE_FIGURES.contains(&path) {
        return Ok(());
    }
    if let Some(rest) = path.strip_prefix("faults.") {
        let (index, fig) = rest.split_once('.').unwrap_or((rest, ""));
        let i: usize = index.parse().map_err(|_| {
            format!("faults.{index}: name a fault by its index, e.g. faults.0.error_window_s")
        })?;
        if i >= faults {
            return Err(format!(
                "faults.{i}: the experiment has {faults} fault(s), numbered from 0 in file order"
            ));
        }
        return if FAULT_FIGURES.contains(&fig) {
            Ok(())
        } else {
            Err(format!(
                "unknown fault figure {fig:?}; faults.<n> has {}",
                FAULT_FIGURES.join(", ")
            ))
        };
    }
    for kind in REQUEST_KINDS {
        if let Some(rest) = path.strip_prefix(&format!("requests.{kind}.")) {
            if REQUEST_FIGURES.contains(&rest) {
                return Ok(());
            }
            return Err(format!(
                "unknown request figure {rest:?}; requests.{kind} has {}",
                REQUEST_FIGURES.join(", ")
            ));
        }
    }
    if let Some(host) = path.strip_prefix("peak_memory_bytes.") {
        return topo
            .host_index(host)
            .map(|_| ())
            .ok_or_else(|| format!("there is no host {host:?} in the topology"));
    }
    if let Some(rest) = path.strip_prefix("hosts.") {
        for h in &topo.hosts {
            if let Some(fig) = rest.strip_prefix(&format!("{}.", h.name)) {
                return if HOST_FIGURES.contains(&fig) {
                    Ok(())
                } else {
                    Err(format!(
                        "unknown host figure {fig:?}; hosts.<host> has {}",
                        HOST_FIGURES.join(", ")
                    ))
                };
            }
        }
        return Err(format!("{path:?} names no host of the topology"));
    }
    Err(format!(
        "{path:?} is not a figure of summary.json; use one of {}, {}, requests.<kind>.<figure> (kind search, query, insert, delete or upsert), faults.<n>.<figure>, peak_memory_bytes.<host> or hosts.<host>.<figure>",
        TOP_LEVEL.join(", "),
        WRITE_FIGURES.join(", ")
    ))
}

/// Checks that `path`, a figure [`check_path`] accepts, lies in a section this
/// experiment's summary will have: `requests.query` and the write path's sections
/// are written only when the workload offers what they count, `storage` only when the
/// topology runs object storage. An assertion naming an absent section would fail
/// only after the whole run, so it is refused when the experiment is read.
pub fn check_section(path: &str, w: &Workload, storage: bool) -> Result<(), String> {
    let writes = w.insert.is_some() || w.upsert.is_some();
    let deferred = !w.ddl.indexed_at_start() || !w.ddl.loaded_at_start();
    let (present, needs) = match path.split('.').next().unwrap_or("") {
        "requests" => match path.split('.').nth(1) {
            Some("query") => (w.query.is_some(), "a [workload.query] table"),
            Some("delete") => (w.delete.is_some(), "a [workload.delete] table"),
            Some("upsert") => (w.upsert.is_some(), "a [workload.upsert] table"),
            _ => (true, ""),
        },
        "ingest" | "index" | "segments" | "compaction" => {
            (writes, "a [workload.insert] or [workload.upsert] table")
        }
        "deletes" if path.starts_with("deletes.quer") || path == "deletes.rows_scanned" => (
            w.delete.as_ref().is_some_and(|d| d.by == DeleteBy::Expr),
            "by = \"expr\" under [workload.delete]",
        ),
        "deletes" => (
            w.delete.is_some() || w.upsert.is_some(),
            "a [workload.delete] or [workload.upsert] table",
        ),
        "upserts" => (w.upsert.is_some(), "a [workload.upsert] table"),
        "storage" => (
            storage,
            "a topology that runs object storage (kind = \"minio\")",
        ),
        "ddl" => match path {
            "ddl.create_index_called_s"
            | "ddl.create_index_ms"
            | "ddl.load_called_s"
            | "ddl.load_ms" => (
                deferred,
                "create_index or load deferred under [workload.ddl]",
            ),
            _ if path.starts_with("ddl.rel") || path == "ddl.unloaded_s" => {
                (w.ddl.release.is_some(), "release under [workload.ddl]")
            }
            "ddl.create_s" | "ddl.create_ms" | "ddl.created_s" => {
                (w.ddl.create.is_some(), "create under [workload.ddl]")
            }
            _ if path.starts_with("ddl.drop")
                || matches!(
                    path,
                    "ddl.dropped_s" | "ddl.storage_freed_s" | "ddl.meta_removed_s"
                ) =>
            {
                (w.ddl.drop.is_some(), "drop under [workload.ddl]")
            }
            _ => (
                deferred || w.ddl.release.is_some() || w.ddl.drop.is_some() || w.ddl.create.is_some(),
                "a deferred create_index or load, a release, a create or a drop, under [workload.ddl]",
            ),
        },
        _ => (true, ""),
    };
    if present {
        Ok(())
    } else {
        Err(format!(
            "{path:?} is written to summary.json only by an experiment with {needs}, and this one has none"
        ))
    }
}

/// Evaluates the experiment's assertions and stores them in the summary.
/// Returns whether all passed.
pub fn apply_assertions(exp: &Experiment, summary: &mut Value) -> bool {
    let mut all = true;
    let mut out = Vec::new();
    for a in &exp.asserts {
        let value = lookup(summary, &a.path);
        let passed = value.is_some_and(|v| a.op.holds(v, a.value));
        all &= passed;
        out.push(json!({ "expr": a.expr, "value": value, "passed": passed }));
    }
    summary["assertions"] = Value::Array(out);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn lookup_walks_dotted_paths_and_hosts_with_dots() {
        let s = json!({"requests": {"search": {"p99_ms": 12.5}}, "hosts": {"a.b": {"cpu_util_mean": 0.5}}, "saturated": true});
        assert_eq!(lookup(&s, "requests.search.p99_ms"), Some(12.5));
        assert_eq!(lookup(&s, "hosts.a.b.cpu_util_mean"), Some(0.5));
        assert_eq!(lookup(&s, "saturated"), Some(1.0));
        assert_eq!(lookup(&s, "requests.search.nope"), None);
    }
}
