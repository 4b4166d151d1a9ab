//! Basic Swarm placement: constraints, replicas, global mode, spread.
//!
//! Swarm's spread strategy puts each new task on the eligible node with the fewest
//! tasks of the same service, then the fewest tasks overall. Real Swarm breaks the
//! remaining ties by node ID (random); we break them by the host's order in the
//! topology file so placement is deterministic.

use std::collections::BTreeMap;

use crate::scenario::error::{InputError, InputErrors};
use crate::scenario::topology::{Constraint, ServiceMode, Topology};

/// One running task of a service.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub service: usize,
    /// 1-based, as Swarm numbers replicas.
    pub slot: u32,
    pub host: usize,
    /// `<service>.<slot>`, or `<service>.<host>` for a global service.
    pub name: String,
}

#[derive(Clone, Debug, Default)]
pub struct Placement {
    pub tasks: Vec<Task>,
}

impl Placement {
    pub fn tasks_of(&self, service: usize) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(move |t| t.service == service)
    }
    pub fn tasks_on(&self, host: usize) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(move |t| t.host == host)
    }
}

/// Places every service of the topology, or explains which cannot be placed.
pub fn place(topo: &Topology) -> Result<Placement, InputErrors> {
    let mut placement = Placement::default();
    let mut per_host_total = vec![0u32; topo.hosts.len()];
    let mut errors = Vec::new();
    for (si, svc) in topo.services.iter().enumerate() {
        let eligible: Vec<usize> = (0..topo.hosts.len())
            .filter(|&h| svc.constraints.iter().all(|c| c.matches(&topo.hosts[h])))
            .collect();
        let wanted = match svc.mode {
            ServiceMode::Replicated(n) => n,
            ServiceMode::Global => eligible.len() as u32,
        };
        if eligible.is_empty() && (wanted > 0 || svc.mode == ServiceMode::Global) {
            errors.push(unplaceable(topo, si));
            continue;
        }
        let mut per_host_mine = vec![0u32; topo.hosts.len()];
        match svc.mode {
            ServiceMode::Global => {
                for &h in &eligible {
                    per_host_mine[h] += 1;
                    per_host_total[h] += 1;
                    placement.tasks.push(Task {
                        service: si,
                        slot: 1,
                        host: h,
                        name: format!("{}.{}", svc.name, topo.hosts[h].name),
                    });
                }
            }
            ServiceMode::Replicated(n) => {
                for slot in 1..=n {
                    let &h = eligible
                        .iter()
                        .min_by_key(|&&h| (per_host_mine[h], per_host_total[h], h))
                        .expect("eligible is not empty");
                    per_host_mine[h] += 1;
                    per_host_total[h] += 1;
                    placement.tasks.push(Task {
                        service: si,
                        slot,
                        host: h,
                        name: format!("{}.{slot}", svc.name),
                    });
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(placement)
    } else {
        Err(InputErrors(errors))
    }
}

/// The error for a service no host can run, with the nearest labels as a hint.
fn unplaceable(topo: &Topology, si: usize) -> InputError {
    let svc = &topo.services[si];
    // Blame the first constraint that no host satisfies, else the whole set.
    let culprit = svc
        .constraints
        .iter()
        .position(|c| !topo.hosts.iter().any(|h| c.matches(h)));
    let (spot, text) = match culprit {
        Some(i) => (
            &svc.constraint_spots[i],
            format!("constraint {}", svc.constraints[i]),
        ),
        None => (
            &svc.spot,
            format!(
                "constraints [{}] taken together",
                svc.constraints
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    };
    let hint = match culprit.map(|i| &svc.constraints[i]) {
        Some(Constraint::Label { key, value, .. }) => {
            let stem: String = key
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .to_string();
            let mut similar: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for h in &topo.hosts {
                for (k, v) in &h.labels {
                    if !stem.is_empty() && k.starts_with(&stem) {
                        similar
                            .entry(format!("{k}={v}"))
                            .or_default()
                            .push(format!("{} ({})", h.name, h.address));
                    }
                }
            }
            if similar.is_empty() {
                format!(
                    "no host has label {key}={value}; add `{key} = \"{value}\"` to the labels of the host that should run it (docker node update --label-add {key}={value} HOST)"
                )
            } else {
                let listed: Vec<String> = similar
                    .iter()
                    .map(|(l, hs)| format!("{l} on {}", hs.join(", ")))
                    .collect();
                format!(
                    "no host has label {key}={value}; similar labels: {}. Is one of those hosts mislabelled?",
                    listed.join("; ")
                )
            }
        }
        Some(Constraint::Role { .. }) => {
            "no host has that Swarm role; check the `role` of the hosts".into()
        }
        Some(Constraint::Hostname { name, .. }) => {
            let names: Vec<&str> = topo.hosts.iter().map(|h| h.name.as_str()).collect();
            match crate::scenario::error::closest(name, names) {
                Some(c) => format!("there is no host {name:?}; did you mean {c:?}?"),
                None => format!("there is no host {name:?}"),
            }
        }
        _ => "each constraint matches some host, but no host matches them all".into(),
    };
    InputError {
        file: topo.path.clone(),
        line: spot.line,
        column: spot.column,
        message: format!(
            "service {:?} cannot be placed: {text} matches no host",
            svc.name
        ),
        hint: Some(hint),
    }
}
