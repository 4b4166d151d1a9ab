//! `simctl import-stack`.

use std::path::{Path, PathBuf};

use super::{EXIT_BAD_INPUT, EXIT_OK};
use crate::scenario::load::read_file;
use crate::swarm::stack_configs::{fragment_text, read_configs};
use crate::swarm::stack_import::{import, topology_text, StackFile};

fn name_of(p: &Path) -> String {
    p.file_name()
        .unwrap_or(p.as_os_str())
        .to_string_lossy()
        .into_owned()
}

pub fn import_stack(
    stacks: &[PathBuf],
    hosts: &Path,
    out: &Path,
    configs: &[PathBuf],
    experiment_out: Option<&Path>,
) -> i32 {
    let hosts_topology = match crate::scenario::load_topology(hosts, None) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    let mut files = Vec::new();
    for path in stacks {
        match read_file(path, None) {
            Ok(text) => files.push(StackFile {
                path: path.clone(),
                text,
            }),
            Err(e) => {
                eprintln!("{e}");
                return EXIT_BAD_INPUT;
            }
        }
    }
    let imported = match import(&files) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    // Every input is read and checked before anything is written.
    let settings = match read_configs(&imported, configs) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    let names: Vec<String> = stacks.iter().map(|p| name_of(p)).collect();
    let (text, dropped) =
        match topology_text(&name_of(hosts), &hosts_topology.text, &names, &imported) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{}: error: {e}", hosts.display());
                return EXIT_BAD_INPUT;
            }
        };
    let report = imported.report();
    if report.is_empty() {
        eprintln!("every key of the stack files is modelled");
    } else {
        eprintln!(
            "not modelled ({} keys; also at the top of {}):",
            report.len(),
            out.display()
        );
        for line in &report {
            eprintln!("  {line}");
        }
    }
    if dropped > 0 {
        eprintln!(
            "note: the {dropped} [[service]] table(s) of {} are replaced by the imported services",
            hosts.display()
        );
    }
    let fragment = fragment_text(&settings);
    report_settings(&settings, &fragment, experiment_out);
    if let Err(e) = std::fs::write(out, &text) {
        eprintln!("{}: error: cannot write: {e}", out.display());
        return EXIT_BAD_INPUT;
    }
    if let Some(path) = experiment_out {
        if let Err(e) = std::fs::write(path, &fragment) {
            eprintln!("{}: error: cannot write: {e}", path.display());
            return EXIT_BAD_INPUT;
        }
        println!(
            "wrote {}: the settings of the mounted configuration files",
            path.display()
        );
    }
    // The written topology must load and place like any other.
    match crate::scenario::load_topology(out, None)
        .and_then(|t| crate::swarm::place(&t).map(|p| (t, p)))
    {
        Ok((t, p)) => {
            println!(
                "wrote {}: {} services ({} tasks) from {} stack file(s) on {} hosts",
                out.display(),
                t.services.len(),
                p.tasks.len(),
                stacks.len(),
                t.hosts.len()
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("{e}");
            eprintln!(
                "the topology was written to {} but does not place; fix the stack files or the hosts file and import again",
                out.display()
            );
            EXIT_BAD_INPUT
        }
    }
}

/// The settings read from the mounted configuration files, on stderr: what is not
/// modelled, mounts not read, and the tables themselves unless they go to a file.
fn report_settings(
    settings: &crate::swarm::stack_configs::Settings,
    fragment: &str,
    experiment_out: Option<&Path>,
) {
    let report = settings.report();
    if !report.is_empty() {
        eprintln!(
            "settings of the configuration files not modelled ({}):",
            report.len()
        );
        for line in &report {
            eprintln!("  {line}");
        }
    }
    for note in &settings.notes {
        eprintln!("note: {note}");
    }
    if settings.nginx.is_none() && settings.milvus.is_none() {
        return;
    }
    match experiment_out {
        Some(path) => eprintln!(
            "the experiment settings of the configuration files are in {} ([nginx], [milvus])",
            path.display()
        ),
        None => {
            eprintln!("experiment settings of the configuration files (--experiment-out FILE writes them):");
            for line in fragment
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
            {
                eprintln!("  {line}");
            }
        }
    }
}
