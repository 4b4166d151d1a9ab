//! `simctl validate`.

use std::path::PathBuf;

use super::{is_experiment, EXIT_BAD_INPUT, EXIT_OK};

pub fn validate(files: &[PathBuf]) -> i32 {
    let mut code = EXIT_OK;
    for f in files {
        if is_experiment(f) {
            match crate::run::prepare(f, &[]) {
                Ok((exp, layout)) => println!(
                    "ok: {} (experiment: {} hosts, {} tasks placed, {} segments on {} query nodes, {} replica(s))",
                    f.display(),
                    exp.topology.hosts.len(),
                    exp.placement.tasks.len(),
                    layout.segments.len(),
                    layout.query_nodes.len(),
                    layout.replicas.len()
                ),
                Err(e) => {
                    eprintln!("{e}");
                    code = EXIT_BAD_INPUT;
                }
            }
        } else {
            let placed = crate::scenario::load_topology(f, None)
                .and_then(|t| crate::swarm::place(&t).map(|p| (t, p)));
            match placed {
                Ok((t, p)) => println!(
                    "ok: {} (topology: {} hosts, {} services, {} tasks placed)",
                    f.display(),
                    t.hosts.len(),
                    t.services.len(),
                    p.tasks.len()
                ),
                Err(e) => {
                    eprintln!("{e}");
                    code = EXIT_BAD_INPUT;
                }
            }
        }
    }
    code
}
