//! `simctl explain`.

use std::path::Path;

use super::{is_experiment, EXIT_BAD_INPUT, EXIT_OK};
use crate::calibrate::profile::ProfileChoice;
use crate::hw::{HostCost, IndexKind};
use crate::scenario::topology::Topology;
use crate::scenario::units::{format_bandwidth, format_bytes};
use crate::swarm::start_order::{cold_start, start_order, StartupKnobs};
use crate::swarm::Placement;

pub fn explain(path: &Path, dot: Option<&Path>, profile: Option<&Path>) -> i32 {
    let profile = match profile.map(ProfileChoice::load).transpose() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    if is_experiment(path) {
        match crate::run::prepare(path, &[]) {
            Ok((mut exp, layout)) => {
                if let Some(p) = profile {
                    exp.profile = p;
                }
                print_topology(&exp.topology, &exp.placement);
                let code = print_start(&exp.topology, &exp.placement, dot);
                print_collection(&exp, &layout);
                code
            }
            Err(e) => {
                eprintln!("{e}");
                EXIT_BAD_INPUT
            }
        }
    } else {
        match crate::scenario::load_topology(path, None)
            .and_then(|t| crate::swarm::place(&t).map(|p| (t, p)))
        {
            Ok((t, p)) => {
                print_topology(&t, &p);
                print_start(&t, &p, dot)
            }
            Err(e) => {
                eprintln!("{e}");
                EXIT_BAD_INPUT
            }
        }
    }
}

/// The start order, the cold-start estimate and, when asked, the Graphviz file.
fn print_start(t: &Topology, p: &Placement, dot: Option<&Path>) -> i32 {
    let order = match start_order(t) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    println!("\nstart order (reference §6.4; each service waits until what it needs is healthy):");
    for (i, stage) in order.stages.iter().enumerate() {
        let names: Vec<&str> = stage.iter().map(|&s| t.services[s].name.as_str()).collect();
        println!("  {:>2}. {}", i + 1, names.join(", "));
    }
    let cold = cold_start(t, &order, &StartupKnobs::default());
    println!(
        "\ncold start (start-up times GUESS, see src/swarm/start_order.rs; health probes every interval, reference §2.10):"
    );
    println!(
        "  {:<14} {:>9} {:>9} {:>9}  waited for",
        "service", "started", "serving", "healthy"
    );
    for s in &cold.services {
        println!(
            "  {:<14} {:>8.1}s {:>8.1}s {:>8.1}s  {}",
            t.services[s.service].name,
            s.started.as_secs_f64(),
            s.serving.as_secs_f64(),
            s.healthy.as_secs_f64(),
            s.waited_for.map_or("-", |w| t.services[w].name.as_str())
        );
    }
    match cold.first_search {
        Some(at) => {
            let path: Vec<&str> = cold
                .critical_path
                .iter()
                .map(|&s| t.services[s].name.as_str())
                .collect();
            println!(
                "  first search could be served {:.1} s after the first deploy (collection loading not included)\n  critical path: {}",
                at.as_secs_f64(),
                path.join(" -> ")
            );
        }
        None => println!("  no Milvus proxy: the cluster never serves a search"),
    }
    if let Some(file) = dot {
        if let Err(e) = std::fs::write(file, crate::swarm::dot::render(t, p, &order)) {
            eprintln!("{}: error: cannot write: {e}", file.display());
            return EXIT_BAD_INPUT;
        }
        println!("\nwrote {}", file.display());
    }
    EXIT_OK
}

fn print_topology(t: &Topology, p: &Placement) {
    println!("topology {} ({})", t.name, t.path.display());
    if !t.description.is_empty() {
        println!("  {}", t.description);
    }
    println!("\nclasses:");
    for class in &t.classes {
        if let Some(h) = t.hosts.iter().find(|h| &h.class == class) {
            println!(
                "  {class:<10} {} cores @ {} GHz {}, {} RAM at {}, NIC {}, disk {} ({} read, {} write)",
                h.cores,
                h.ghz,
                h.isa.name(),
                format_bytes(h.memory_bytes),
                format_bandwidth(h.memory_bandwidth_bytes_per_s),
                format_bandwidth(h.nic_bytes_per_s),
                format_bytes(h.disk.size_bytes),
                format_bandwidth(h.disk.read_bytes_per_s),
                format_bandwidth(h.disk.write_bytes_per_s)
            );
            // The per-search server work the model charges on this class (src/milvus/overheads.rs).
            let own = h.search_server.fixed.is_some() || h.search_server.per_query.is_some();
            let one = crate::milvus::overheads::search_server_on(h, 1);
            let per_query = crate::milvus::overheads::search_server_on(h, 2) - one;
            println!(
                "  {:<10} Milvus's own CPU per search: {:.3} ms + {:.1} us a query vector ({})",
                "",
                (one - per_query) / 1e6,
                per_query / 1e3,
                if own {
                    "the class's search_server_cpu keys".to_string()
                } else {
                    format!(
                        "measured at {:.2} GHz, scaled by the clock",
                        crate::milvus::overheads::MEASURED_ON_GHZ
                    )
                }
            );
        } else {
            println!("  {class:<10} (no host uses it)");
        }
    }
    println!("\nhosts:");
    for (i, h) in t.hosts.iter().enumerate() {
        let labels: Vec<String> = h.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let tasks: Vec<&str> = p.tasks_on(i).map(|t| t.name.as_str()).collect();
        println!(
            "  {:<10} {:<15} {:<8} {:<7} labels [{}]\n             runs: {}",
            h.name,
            h.address,
            h.class,
            match h.role {
                crate::hw::SwarmRole::Manager => "manager",
                crate::hw::SwarmRole::Worker => "worker",
            },
            labels.join(", "),
            if tasks.is_empty() {
                "-".to_string()
            } else {
                tasks.join(", ")
            }
        );
    }
    println!("\nservices:");
    for (si, s) in t.services.iter().enumerate() {
        let placed: Vec<String> = p
            .tasks_of(si)
            .map(|task| format!("{} -> {}", task.name, t.hosts[task.host].name))
            .collect();
        let constraints: Vec<String> = s.constraints.iter().map(|c| c.to_string()).collect();
        println!(
            "  {:<14} {:<11} {:<11} [{}]{}\n                 {}",
            s.name,
            s.kind.name(),
            match s.mode {
                crate::scenario::topology::ServiceMode::Replicated(n) => format!("replicas {n}"),
                crate::scenario::topology::ServiceMode::Global => "global".to_string(),
            },
            constraints.join(", "),
            match (&s.process, s.kind.simulated()) {
                (Some(p), _) => format!("  (a role of standalone {p:?}, in its one process)"),
                (None, true) => String::new(),
                (None, false) => "  (placed; not simulated in this release)".to_string(),
            },
            placed.join(", ")
        );
    }
}

fn print_collection(exp: &crate::scenario::Experiment, layout: &crate::milvus::Layout) {
    let c = &exp.collection;
    println!(
        "\ncollection: {} rows x {} dims, {:?}, {} ({} shard(s), {} replica(s)); {} bytes per row ({} with the row id and timestamp datacoord counts for max rows)",
        c.rows,
        c.index.dim,
        c.metric,
        c.index.kind.name(),
        c.shards,
        c.replicas,
        c.row_bytes,
        c.estimated_row_bytes()
    );
    println!(
        "  {} sealed segments of at most {} rows (dataCoord.segment.{} {} MB, fill {})",
        layout.segments.len(),
        layout.max_rows_per_segment,
        if c.index.kind == IndexKind::DiskAnn {
            "diskSegmentMaxSize"
        } else {
            "maxSize"
        },
        exp.segment_max_size_mib(),
        c.segment_fill
    );
    if c.index.kind == IndexKind::DiskAnn {
        let rows = layout.segments.first().map(|s| s.rows).unwrap_or(0);
        let a = &c.index.diskann;
        println!(
            "  DISKANN (common.DiskIndex: MaxDegree {}, SearchListSize {}, PQCodeBudgetGBRatio {}, BeamWidthRatio {}): per segment {} in memory (raw / 4, reference §4.3; the search cache not counted), {} on the query node's disk ((1 + MaxDegree / dim) x raw)",
            a.max_degree,
            a.build_search_list,
            a.pq_code_budget_ratio,
            a.beam_width_ratio,
            format_bytes(crate::hw::cost::segment_memory_bytes(&c.index, rows, c.row_bytes)),
            format_bytes(crate::hw::cost::diskann_local_disk_bytes(&c.index, rows))
        );
    }
    println!("\nquery nodes:");
    for (n, &task) in layout.query_nodes.iter().enumerate() {
        let t = &exp.placement.tasks[task];
        let h = &exp.topology.hosts[t.host];
        let segs = layout
            .replicas
            .iter()
            .map(|r| r.holder.iter().filter(|&&x| x == n).count())
            .sum::<usize>();
        println!(
            "  {:<10} on {:<10} {:>4} segments, {} of {} RAM ({:.0} %)",
            t.name,
            h.name,
            segs,
            format_bytes(layout.node_memory_bytes[n]),
            format_bytes(h.memory_bytes),
            100.0 * layout.node_memory_bytes[n] as f64 / h.memory_bytes as f64
        );
    }
    let rows = layout.segments.first().map(|s| s.rows).unwrap_or(0);
    let query_classes: std::collections::BTreeSet<&str> = layout
        .query_nodes
        .iter()
        .map(|&t| {
            exp.topology.hosts[exp.placement.tasks[t].host]
                .class
                .as_str()
        })
        .collect();
    println!(
        "\ncost per segment of {rows} rows, from the calibration profile ({}):",
        exp.profile.describe()
    );
    println!(
        "  (roofline per host class: measured kernel times scaled by clock and ISA, memory traffic at the class's bandwidth shared by all its cores; README \"Cost model\"; Milvus per-search and per-byte insert work measured on a real standalone, src/milvus/overheads.rs; per-segment overhead a GUESS in src/hw/cost.rs)"
    );
    let s = &exp.workload.search;
    for class in &exp.topology.classes {
        let Some(h) = exp.topology.hosts.iter().find(|h| &h.class == class) else {
            continue;
        };
        let cost = HostCost::for_host(h, &exp.profile.profile);
        let search = cost.segment_search_ns(&c.index, rows, s);
        let build = match (c.index.kind, c.ef_construction) {
            (IndexKind::Hnsw, None) => "build: efConstruction not given".to_string(),
            (_, efc) => format!(
                "build {:.1} core-s",
                cost.segment_build_ns(&c.index, rows, efc.unwrap_or(0)) / 1e9
            ),
        };
        let serves = if query_classes.contains(class.as_str()) {
            "  (runs query nodes)"
        } else {
            ""
        };
        println!(
            "  on {class:<10} search {:.1} us of one core for nq={} topk={}; {build}{serves}",
            search / 1e3,
            s.nq,
            s.topk
        );
        let by_expr = exp.workload.delete.as_ref().map(|d| d.by);
        if by_expr == Some(crate::scenario::experiment::DeleteBy::Expr) {
            println!(
                "  {:13} delete by expression: its query filters every row, {:.1} us of one core per segment (GUESS: 2 ns a row or the 8-byte field at memory bandwidth, src/milvus/retrieve.rs)",
                "",
                crate::milvus::retrieve::filter_segment_ns(&cost, rows) / 1e3
            );
        }
        if c.index.kind == IndexKind::DiskAnn {
            let q = cost.diskann_search(&c.index, rows, s);
            println!(
                "  {:13} DISKANN per query: search_list {} -> {:.0} node reads in {:.0} hops of {} (beam width: BeamWidthRatio x {} cores, at most {}), the first {:.0} hop(s) from the search cache (SearchCacheBudgetGBRatio {}), {} from disk; compute {:.1} us + disk wait {:.1} us ({} IOPS, {} read, read latency {} us{})",
                "",
                s.search_list,
                q.reads,
                q.hops,
                q.beam_width,
                h.cores,
                crate::hw::cost::MAX_BEAM_WIDTH,
                q.cached_hops,
                c.index.diskann.search_cache_budget_ratio,
                format_bytes(q.read_bytes as u64),
                q.compute_ns / 1e3,
                q.io_ns / 1e3,
                h.disk.iops,
                format_bandwidth(h.disk.read_bytes_per_s),
                h.disk.read_latency.as_nanos() as f64 / 1e3,
                if h.disk.read_latency == crate::hw::host::DEFAULT_DISK_READ_LATENCY {
                    " (default, a GUESS; set disk read_latency)"
                } else {
                    ""
                }
            );
        }
    }
}
