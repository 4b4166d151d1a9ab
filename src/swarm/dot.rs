//! Graphviz (DOT) of a cluster: hosts as boxes holding the tasks placed on them,
//! services linked to their tasks, and the start-order waits between services.

use std::fmt::Write;

use super::start_order::{StartOrder, Wait};
use super::Placement;
use crate::hw::SwarmRole;
use crate::scenario::topology::{ServiceMode, Topology};

fn quote(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

/// The DOT text; node names are stable (`host_N`, `task_N`, `svc_N`).
pub fn render(t: &Topology, p: &Placement, order: &StartOrder) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "digraph {} {{", quote(&t.name));
    let _ = writeln!(w, "  rankdir=LR;");
    let _ = writeln!(w, "  node [fontname=\"Helvetica\", fontsize=10];");
    let _ = writeln!(w, "  edge [fontname=\"Helvetica\", fontsize=8];");
    let _ = writeln!(w, "  // hosts and the tasks placed on them");
    for (hi, h) in t.hosts.iter().enumerate() {
        let role = match h.role {
            SwarmRole::Manager => "manager",
            SwarmRole::Worker => "worker",
        };
        let labels: Vec<String> = h.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(w, "  subgraph cluster_host_{hi} {{");
        let _ = writeln!(
            w,
            "    label={};",
            quote(&format!(
                "{} {}\n{} {}{}{}",
                h.name,
                h.address,
                h.class,
                role,
                if labels.is_empty() { "" } else { "\n" },
                labels.join(", ")
            ))
        );
        let _ = writeln!(w, "    style=rounded;");
        let _ = writeln!(w, "    host_{hi} [shape=point, style=invis];");
        for (ti, task) in p.tasks.iter().enumerate().filter(|(_, x)| x.host == hi) {
            let _ = writeln!(w, "    task_{ti} [label={}, shape=box];", quote(&task.name));
        }
        let _ = writeln!(w, "  }}");
    }
    let _ = writeln!(w, "  // services, dashed to their tasks");
    for (si, s) in t.services.iter().enumerate() {
        let mode = match s.mode {
            ServiceMode::Replicated(n) => format!("replicas {n}"),
            ServiceMode::Global => "global".into(),
        };
        let mut label = format!("{}\n{} ({mode})", s.name, s.kind.name());
        for c in &s.constraints {
            label.push('\n');
            label.push_str(&c.to_string());
        }
        if !s.ports.is_empty() {
            let ports: Vec<String> = s.ports.iter().map(|p| p.to_string()).collect();
            label.push_str(&format!("\nhost ports {}", ports.join(", ")));
        }
        let _ = writeln!(w, "  svc_{si} [label={}, shape=ellipse];", quote(&label));
        for (ti, _) in p.tasks.iter().enumerate().filter(|(_, x)| x.service == si) {
            let _ = writeln!(w, "  svc_{si} -> task_{ti} [style=dashed, arrowhead=none];");
        }
    }
    let _ = writeln!(
        w,
        "  // start order: an arrow from a service to one that waits for its health"
    );
    for e in order.graph.raw_edges() {
        let (a, b) = (order.graph[e.source()], order.graph[e.target()]);
        let style = match e.weight {
            Wait::Stage => "color=\"#1f5fa8\"",
            Wait::DependsOn => "color=\"#a83a1f\", label=\"depends_on\"",
        };
        let _ = writeln!(w, "  svc_{a} -> svc_{b} [{style}];");
    }
    let _ = writeln!(w, "}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes() {
        assert_eq!(quote("a\"b\nc"), "\"a\\\"b\\nc\"");
    }
}
