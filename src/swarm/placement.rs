//! Basic Swarm placement: constraints, replicas, global mode, spread, host-mode ports.
//!
//! Swarm's spread strategy puts each new task on the eligible node with the fewest
//! tasks of the same service, then the fewest tasks overall. Real Swarm breaks the
//! remaining ties by node ID (random); we break them by the host's order in the
//! topology file so placement is deterministic. A host where another task already
//! publishes one of the service's host-mode ports is not eligible: Docker cannot bind
//! the port twice.

use std::collections::{BTreeMap, BTreeSet};

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
    let mut host_ports: Vec<BTreeSet<u16>> = vec![BTreeSet::new(); topo.hosts.len()];
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
        let port_free =
            |ports: &[BTreeSet<u16>], h: usize| svc.ports.iter().all(|p| !ports[h].contains(p));
        match svc.mode {
            ServiceMode::Global => {
                for &h in &eligible {
                    if !port_free(&host_ports, h) {
                        errors.push(port_conflict(topo, si, &[h], &host_ports));
                        continue;
                    }
                    per_host_mine[h] += 1;
                    per_host_total[h] += 1;
                    host_ports[h].extend(svc.ports.iter().copied());
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
                    let Some(&h) = eligible
                        .iter()
                        .filter(|&&h| port_free(&host_ports, h))
                        .min_by_key(|&&h| (per_host_mine[h], per_host_total[h], h))
                    else {
                        errors.push(port_conflict(topo, si, &eligible, &host_ports));
                        break;
                    };
                    per_host_mine[h] += 1;
                    per_host_total[h] += 1;
                    host_ports[h].extend(svc.ports.iter().copied());
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

/// `docker service scale SERVICE=upto` decided in advance: places the new slots of a
/// replicated service by the same spread rule, after everything already placed, and
/// returns their indexes (none if the service already has `upto` tasks). The error
/// says why a slot has no host.
pub fn add_replicas(
    topo: &Topology,
    placement: &mut Placement,
    service: usize,
    upto: u32,
) -> Result<Vec<usize>, String> {
    let svc = &topo.services[service];
    let mut per_host_mine = vec![0u32; topo.hosts.len()];
    let mut per_host_total = vec![0u32; topo.hosts.len()];
    let mut host_ports: Vec<BTreeSet<u16>> = vec![BTreeSet::new(); topo.hosts.len()];
    let mut have = 0;
    for t in &placement.tasks {
        per_host_total[t.host] += 1;
        host_ports[t.host].extend(topo.services[t.service].ports.iter().copied());
        if t.service == service {
            per_host_mine[t.host] += 1;
            have = have.max(t.slot);
        }
    }
    let eligible: Vec<usize> = (0..topo.hosts.len())
        .filter(|&h| svc.constraints.iter().all(|c| c.matches(&topo.hosts[h])))
        .collect();
    let mut added = Vec::new();
    for slot in have + 1..=upto {
        let Some(&h) = eligible
            .iter()
            .filter(|&&h| svc.ports.iter().all(|p| !host_ports[h].contains(p)))
            .min_by_key(|&&h| (per_host_mine[h], per_host_total[h], h))
        else {
            return Err(if eligible.is_empty() {
                format!(
                    "no host satisfies the constraints of service {:?}",
                    svc.name
                )
            } else {
                format!(
                    "task {}.{slot} has no host: its host-mode ports {:?} are already published on every eligible host",
                    svc.name, svc.ports
                )
            });
        };
        per_host_mine[h] += 1;
        per_host_total[h] += 1;
        host_ports[h].extend(svc.ports.iter().copied());
        added.push(placement.tasks.len());
        placement.tasks.push(Task {
            service,
            slot,
            host: h,
            name: format!("{}.{slot}", svc.name),
        });
    }
    Ok(added)
}

/// The error for a task whose eligible hosts all publish one of its host-mode ports.
fn port_conflict(
    topo: &Topology,
    si: usize,
    eligible: &[usize],
    host_ports: &[BTreeSet<u16>],
) -> InputError {
    let svc = &topo.services[si];
    let taken: Vec<String> = eligible
        .iter()
        .map(|&h| {
            let ports: Vec<String> = svc
                .ports
                .iter()
                .filter(|p| host_ports[h].contains(p))
                .map(|p| p.to_string())
                .collect();
            format!("{} (port {})", topo.hosts[h].name, ports.join(", "))
        })
        .collect();
    InputError {
        file: topo.path.clone(),
        line: svc.spot.line,
        column: svc.spot.column,
        message: format!(
            "service {:?} cannot place all its tasks: its host-mode ports are already published on every eligible host: {}",
            svc.name,
            taken.join(", ")
        ),
        hint: Some(
            "two tasks cannot publish one host-mode port on a host; lower `replicas`, make more hosts eligible or publish another port".into(),
        ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swarm::test_topology;

    const MANAGERS: &str = r#"
[class.m]
cores = 8
ghz = 2.4
isa = "avx512"
memory = "16GiB"
memory_bandwidth = "60GB/s"
nic = "10Gbps"
disk = { size = "250GB", read = "500MB/s", write = "450MB/s", iops = 50000, fsync_latency = "1ms" }

[[host]]
name = "m1"
address = "10.0.0.1"
class = "m"
role = "manager"

[[host]]
name = "m2"
address = "10.0.0.2"
class = "m"
role = "manager"

[[host]]
name = "m3"
address = "10.0.0.3"
class = "m"
role = "manager"
"#;

    fn hosts_of(topo: &Topology, p: &Placement, si: usize) -> Vec<String> {
        p.tasks_of(si)
            .map(|t| topo.hosts[t.host].name.clone())
            .collect()
    }

    #[test]
    fn host_mode_ports_keep_replicas_apart() {
        let t = test_topology(&format!(
            "{MANAGERS}
[[service]]
name = \"proxy\"
kind = \"proxy\"
replicas = 3
ports = [19530]
constraints = [\"node.role==manager\"]
"
        ));
        let p = place(&t).unwrap();
        assert_eq!(hosts_of(&t, &p, 0), ["m1", "m2", "m3"]);

        let t = test_topology(&format!(
            "{MANAGERS}
[[service]]
name = \"proxy\"
kind = \"proxy\"
replicas = 4
ports = [19530]
constraints = [\"node.role==manager\"]
"
        ));
        let e = place(&t).unwrap_err().to_string();
        assert!(e.contains("host-mode ports are already published"), "{e}");
        assert!(e.contains("m1 (port 19530)"), "{e}");
    }

    #[test]
    fn host_mode_ports_conflict_across_services() {
        // Spread alone would put both on m1 (pinned); the second one's port is taken.
        let t = test_topology(&format!(
            "{MANAGERS}
[[service]]
name = \"a\"
kind = \"nginx\"
ports = [9090]
constraints = [\"node.hostname==m1\"]

[[service]]
name = \"b\"
kind = \"nginx\"
ports = [9090]
constraints = [\"node.hostname!=m3\"]

[[service]]
name = \"c\"
kind = \"nginx\"
ports = [8080]
constraints = [\"node.hostname==m1\"]
"
        ));
        let p = place(&t).unwrap();
        assert_eq!(hosts_of(&t, &p, 0), ["m1"]);
        assert_eq!(hosts_of(&t, &p, 1), ["m2"]);
        assert_eq!(hosts_of(&t, &p, 2), ["m1"]);
    }

    #[test]
    fn scaling_up_spreads_the_new_slots_and_stops_at_the_ports() {
        let t = test_topology(&format!(
            "{MANAGERS}
[[service]]
name = \"proxy\"
kind = \"proxy\"
replicas = 1
ports = [19530]
constraints = [\"node.role==manager\"]

[[service]]
name = \"web\"
kind = \"nginx\"
constraints = [\"node.hostname==m2\"]
"
        ));
        let mut p = place(&t).unwrap();
        assert_eq!(hosts_of(&t, &p, 0), ["m1"]);
        // m2 already runs a task: spread puts slot 2 on m3, slot 3 on m2.
        let added = add_replicas(&t, &mut p, 0, 3).unwrap();
        assert_eq!(added, [2, 3]);
        assert_eq!(hosts_of(&t, &p, 0), ["m1", "m3", "m2"]);
        let names: Vec<&str> = added.iter().map(|&i| p.tasks[i].name.as_str()).collect();
        assert_eq!(names, ["proxy.2", "proxy.3"]);
        // Nothing to add when the service already has that many.
        assert!(add_replicas(&t, &mut p, 0, 2).unwrap().is_empty());
        let e = add_replicas(&t, &mut p, 0, 4).unwrap_err();
        assert!(e.contains("proxy.4 has no host"), "{e}");
    }
}
