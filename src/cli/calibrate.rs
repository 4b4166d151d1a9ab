//! `simctl calibrate`.

use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::{EXIT_BAD_INPUT, EXIT_OK};
use crate::calibrate::{self, profile::MetricName, Options};

pub fn calibrate(out: &Path, quick: bool, threads: Option<usize>, runs: usize) -> i32 {
    let threads = threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let opts = Options {
        quick,
        threads,
        runs,
    };
    // Before minutes of measuring: where the profile goes must exist.
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!(
                "{}: error: cannot create the directory: {e}\n  hint: choose another --out path",
                dir.display()
            );
            return EXIT_BAD_INPUT;
        }
    }
    let started = Instant::now();
    let bar = ProgressBar::new(calibrate::steps(opts));
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}  [{elapsed}]")
            .expect("valid template"),
    );
    let mut first = true;
    let profile = calibrate::calibrate(opts, &mut |what| {
        if !std::mem::take(&mut first) {
            bar.inc(1);
        }
        bar.set_message(what.to_string());
    });
    bar.finish_and_clear();
    let text = format!(
        "# Calibration profile written by `simctl calibrate{}{}`; read by `simctl run --profile`.\n\
         # Times are ns, bandwidths bytes/s; README \"Cost model\" says how they are used.\n\n{}",
        if quick { " --quick" } else { "" },
        if runs > 1 { format!(" --runs {runs}") } else { String::new() },
        profile.to_toml()
    );
    if let Err(e) = std::fs::write(out, text) {
        eprintln!(
            "{}: error: cannot write the profile: {e}\n  hint: choose another --out path",
            out.display()
        );
        return EXIT_BAD_INPUT;
    }
    let m = &profile.machine;
    println!(
        "calibrated {} ({} cores, {:.2} GHz, best ISA {}) in {:.1} s -> {}",
        m.cpu_model,
        m.cores,
        m.ghz,
        m.isa.name(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    let bw: Vec<String> = profile
        .bandwidth
        .read_bytes_per_s
        .iter()
        .enumerate()
        .map(|(i, b)| format!("{} thread(s) {:.1} GB/s", i + 1, b / 1e9))
        .collect();
    println!("  read bandwidth: {}", bw.join(", "));
    for dim in [128, 768, 1024] {
        let line: Vec<String> = crate::kernels::distance::available()
            .iter()
            .map(|&isa| {
                format!(
                    "{} {:.1} ns ({:.1} from RAM)",
                    isa.name(),
                    profile.cache_ns(isa, MetricName::L2, dim),
                    profile.stream_ns(isa, MetricName::L2, dim)
                )
            })
            .collect();
        println!("  f32 L2 at dim {dim}: {}", line.join(", "));
    }
    if let Some(first) = profile.tiled.first() {
        let at: Vec<String> = [128, 768, 1024]
            .iter()
            .filter_map(|&dim| {
                let cache = profile.tiled_cache_ns(first.isa, MetricName::L2, dim)?;
                let stream = profile.tiled_stream_ns(first.isa, MetricName::L2, dim)?;
                Some(format!("dim {dim} {cache:.1} ns ({stream:.1} from RAM)"))
            })
            .collect();
        println!(
            "  transposed flat search of {} queries, L2, per (query, vector): {}",
            first.queries,
            at.join(", ")
        );
    }
    let h = &profile.hnsw;
    let per_node = |t: Vec<(u64, f64)>| {
        t.iter()
            .map(|(rows, ns)| format!("{ns:.0} ns at {rows} rows"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "  HNSW search: {} per visited node; visited = {:.3} * ef^{:.2} * M^{:.2} * (ln N)^{:.2}",
        per_node(h.ns_per_visited_by_rows()),
        h.visited_a,
        h.visited_ef_exp,
        h.visited_m_exp,
        h.visited_ln_n_exp
    );
    println!(
        "  HNSW build: {} per distance evaluation; evaluations per insert = {:.3} * efC^{:.2} * M^{:.2} * (ln N)^{:.2}",
        per_node(h.build_ns_per_eval_by_rows()),
        h.build_a,
        h.build_ef_exp,
        h.build_m_exp,
        h.build_ln_n_exp
    );
    println!(
        "  top-{}: {:.2} ns per candidate; k-means {:.1} ns per evaluation; PQ {:.2} ns per lookup",
        profile.topk.k,
        profile.topk.ns_per_candidate,
        profile.ivf.kmeans_ns_per_eval,
        profile.ivf.pq_ns_per_lookup
    );
    EXIT_OK
}
