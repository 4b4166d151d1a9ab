//! The Parquet tables of a run, written through polars.
//!
//! Column names and units are the output contract (README "Outputs"). Writing is
//! single-threaded with fixed options, so the same rows give the same bytes.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use super::recorder::Recorder;

fn write(df: &mut DataFrame, path: &Path) -> Result<(), String> {
    let file = File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Zstd(None))
        .set_parallel(false)
        .finish(df)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

pub fn write_requests(rec: &Recorder, path: &Path) -> Result<(), String> {
    let r = &rec.requests;
    let mut df = DataFrame::new(
        r.len(),
        vec![
            Column::new(
                "request_id".into(),
                r.iter().map(|x| x.id).collect::<Vec<u64>>(),
            ),
            Column::new(
                "kind".into(),
                r.iter().map(|x| x.kind).collect::<Vec<&str>>(),
            ),
            Column::new(
                "start_s".into(),
                r.iter().map(|x| secs(x.start.0)).collect::<Vec<f64>>(),
            ),
            Column::new(
                "end_s".into(),
                r.iter()
                    .map(|x| x.end.map(|e| secs(e.0)))
                    .collect::<Vec<Option<f64>>>(),
            ),
            Column::new(
                "latency_ms".into(),
                r.iter()
                    .map(|x| x.end.map(|e| e.since(x.start).as_millis_f64()))
                    .collect::<Vec<Option<f64>>>(),
            ),
            Column::new(
                "status".into(),
                r.iter().map(|x| x.status.name()).collect::<Vec<&str>>(),
            ),
            Column::new(
                "error".into(),
                r.iter().map(|x| x.error).collect::<Vec<Option<&str>>>(),
            ),
            Column::new(
                "proxy".into(),
                r.iter()
                    .map(|x| rec.proxies[x.proxy as usize].as_str())
                    .collect::<Vec<&str>>(),
            ),
        ],
    )
    .map_err(|e| e.to_string())?;
    write(&mut df, path)
}

pub fn write_events(rec: &Recorder, path: &Path) -> Result<(), String> {
    let e = &rec.events;
    let mut df = DataFrame::new(
        e.len(),
        vec![
            Column::new(
                "t_s".into(),
                e.iter().map(|x| secs(x.t.0)).collect::<Vec<f64>>(),
            ),
            Column::new(
                "kind".into(),
                e.iter().map(|x| x.kind).collect::<Vec<&str>>(),
            ),
            Column::new(
                "host".into(),
                e.iter().map(|x| x.host.as_str()).collect::<Vec<&str>>(),
            ),
            Column::new(
                "service".into(),
                e.iter().map(|x| x.service.as_str()).collect::<Vec<&str>>(),
            ),
            Column::new(
                "detail".into(),
                e.iter().map(|x| x.detail.as_str()).collect::<Vec<&str>>(),
            ),
        ],
    )
    .map_err(|e| e.to_string())?;
    write(&mut df, path)
}

/// One row of the time series: a second of one service on one host.
pub struct SeriesRow {
    pub t_s: u64,
    pub host: String,
    pub service: String,
    pub cpu_util: f64,
    pub mem_bytes: u64,
    pub net_tx_bytes: u64,
    pub net_rx_bytes: u64,
    pub disk_read_bytes: u64,
    pub disk_write_bytes: u64,
    pub queue_max: u32,
    /// Rows of host "clients": requests of kind `service` answered in this second,
    /// and the latency percentiles of those that succeeded (none on host rows).
    pub requests: u32,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Per second and request kind: requests answered, and p50 / p99 of the successful
/// ones (nearest rank), as rows of host "clients".
pub fn request_series(requests: &[super::recorder::RequestRow], seconds: usize) -> Vec<SeriesRow> {
    let mut out = Vec::new();
    for kind in super::summary::REQUEST_KINDS {
        let mut by_second: Vec<Vec<u64>> = vec![Vec::new(); seconds];
        let mut answered = vec![0u32; seconds];
        let mut any = false;
        for r in requests.iter().filter(|r| r.kind == kind) {
            let Some(end) = r.end else { continue };
            let s = (end.0 / crate::engine::NS_PER_S) as usize;
            if s >= seconds {
                continue;
            }
            any = true;
            answered[s] += 1;
            if r.status == super::recorder::Status::Ok {
                by_second[s].push(end.since(r.start).as_nanos());
            }
        }
        if !any {
            continue;
        }
        for (s, mut lat) in by_second.into_iter().enumerate() {
            lat.sort_unstable();
            let pct = |p: f64| -> Option<f64> {
                if lat.is_empty() {
                    return None;
                }
                let rank = (p * lat.len() as f64).ceil() as usize;
                Some(lat[rank.clamp(1, lat.len()) - 1] as f64 / 1e6)
            };
            out.push(SeriesRow {
                t_s: s as u64,
                host: "clients".into(),
                service: kind.into(),
                cpu_util: 0.0,
                mem_bytes: 0,
                net_tx_bytes: 0,
                net_rx_bytes: 0,
                disk_read_bytes: 0,
                disk_write_bytes: 0,
                queue_max: 0,
                requests: answered[s],
                p50_ms: pct(0.50),
                p99_ms: pct(0.99),
            });
        }
    }
    out
}

pub fn write_timeseries(rows: &[SeriesRow], path: &Path) -> Result<(), String> {
    let mut df = DataFrame::new(
        rows.len(),
        vec![
            Column::new(
                "t_s".into(),
                rows.iter().map(|r| r.t_s as f64).collect::<Vec<f64>>(),
            ),
            Column::new(
                "host".into(),
                rows.iter().map(|r| r.host.as_str()).collect::<Vec<&str>>(),
            ),
            Column::new(
                "service".into(),
                rows.iter()
                    .map(|r| r.service.as_str())
                    .collect::<Vec<&str>>(),
            ),
            Column::new(
                "cpu_util".into(),
                rows.iter().map(|r| r.cpu_util).collect::<Vec<f64>>(),
            ),
            Column::new(
                "mem_bytes".into(),
                rows.iter().map(|r| r.mem_bytes).collect::<Vec<u64>>(),
            ),
            Column::new(
                "net_tx_bytes".into(),
                rows.iter().map(|r| r.net_tx_bytes).collect::<Vec<u64>>(),
            ),
            Column::new(
                "net_rx_bytes".into(),
                rows.iter().map(|r| r.net_rx_bytes).collect::<Vec<u64>>(),
            ),
            Column::new(
                "disk_read_bytes".into(),
                rows.iter().map(|r| r.disk_read_bytes).collect::<Vec<u64>>(),
            ),
            Column::new(
                "disk_write_bytes".into(),
                rows.iter()
                    .map(|r| r.disk_write_bytes)
                    .collect::<Vec<u64>>(),
            ),
            Column::new(
                "queue_max".into(),
                rows.iter().map(|r| r.queue_max).collect::<Vec<u32>>(),
            ),
            Column::new(
                "requests".into(),
                rows.iter().map(|r| r.requests).collect::<Vec<u32>>(),
            ),
            Column::new(
                "p50_ms".into(),
                rows.iter().map(|r| r.p50_ms).collect::<Vec<Option<f64>>>(),
            ),
            Column::new(
                "p99_ms".into(),
                rows.iter().map(|r| r.p99_ms).collect::<Vec<Option<f64>>>(),
            ),
        ],
    )
    .map_err(|e| e.to_string())?;
    write(&mut df, path)
}
