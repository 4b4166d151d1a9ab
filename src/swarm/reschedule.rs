//! Where Swarm puts the tasks of hosts that went down: a pure, deterministic policy.
//!
//! Given the topology, the current placement and the set of hosts that are down, it
//! decides for each task on a down host whether the dispatcher starts it elsewhere and
//! when, or leaves it pending and why.
//!
//! Rules (reference §2.10 unless noted):
//! - Nothing is rescheduled without a Raft quorum of the manager hosts (3 managers
//!   tolerate 1 loss).
//! - A host is declared down `SwarmTiming::node_down_after` (≈ 15 s) after its last
//!   heartbeat; its tasks are then restarted after their restart policy's `delay`.
//! - Only hosts that are up, satisfy every placement constraint and do not already
//!   publish one of the task's host-mode ports are eligible; among them, spread: the
//!   fewest tasks of the same service, then the fewest tasks, then topology order.
//! - A global service's task belongs to its host and returns with it.
//! - A task whose restart condition is `none` is not replaced (inference from
//!   swarmkit's restart supervisor, which restarts only under `any` and `on-failure`).
//! - `max_attempts` and `window` count repeated failures over time, which the runtime
//!   tracks; one call decides one failure.
//!
//! When hosts return, Swarm does not move rescheduled tasks back (it does not
//! rebalance). The runtime calls this again with the new set of down hosts, keeping
//! pending tasks on their old hosts in the placement: a pending task whose host is
//! still down may now find an eligible host; one whose host returned is not listed and
//! starts on that host again (for a pinned task, the only host Swarm could choose).

use std::collections::{BTreeMap, BTreeSet};

use super::Placement;
use crate::engine::SimDuration;
use crate::hw::SwarmRole;
use crate::scenario::topology::{RestartCondition, ServiceMode, Topology};

/// Swarm's failure-detection timing (reference §2.10: swarmkit dispatcher constants).
#[derive(Clone, Debug, PartialEq)]
pub struct SwarmTiming {
    /// How often a worker sends a heartbeat to the dispatcher: 5 s.
    pub heartbeat_period: SimDuration,
    /// Heartbeats a worker may miss before it is declared down: 3.
    pub grace_multiplier: u32,
    /// Added to the grace period: 0.5 s.
    pub heartbeat_epsilon: SimDuration,
}

impl Default for SwarmTiming {
    fn default() -> Self {
        SwarmTiming {
            heartbeat_period: SimDuration::from_secs(5),
            grace_multiplier: 3,
            heartbeat_epsilon: SimDuration::from_millis(500),
        }
    }
}

impl SwarmTiming {
    /// From a host's last heartbeat to Swarm declaring it down: 5 s × 3 + 0.5 s.
    pub fn node_down_after(&self) -> SimDuration {
        SimDuration::from_nanos(
            self.heartbeat_period.as_nanos() * u64::from(self.grace_multiplier)
                + self.heartbeat_epsilon.as_nanos(),
        )
    }
}

/// What happens to one task of a down host.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Started on `to_host` (an index into `Topology::hosts`) `at` after the hosts
    /// went down: detection plus the restart delay.
    Reschedule { to_host: usize, at: SimDuration },
    /// Not started anywhere, for `reason`, e.g. "no eligible host: constraint
    /// node.labels.query3==true" or "no manager quorum: 1 of 3 managers up".
    Pending { reason: String },
}

/// The decision for the task `placement.tasks[task]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskDecision {
    pub task: usize,
    pub decision: Decision,
}

/// Decides, for every task on a host in `down` (indices into `Topology::hosts`), in
/// placement order, whether and where it is started again.
pub fn reschedule(
    topo: &Topology,
    placement: &Placement,
    down: &BTreeSet<usize>,
    timing: &SwarmTiming,
) -> Vec<TaskDecision> {
    reschedule_with(
        topo,
        placement,
        down,
        &BTreeSet::new(),
        &BTreeSet::new(),
        timing,
    )
}

/// As [`reschedule`], with hosts set to availability `drain` (`docker node update
/// --availability drain`): their tasks are replaced elsewhere too, and they take no
/// new tasks, but a drained manager still votes in the managers' Raft. The orchestrator
/// applies no restart delay to tasks of a drained node; the replacement starts once
/// the old task has stopped (swarmkit `orchestrator/restart` Restart: "Restart delay is
/// not applied to drained nodes"; not in the reference), so their `at` is zero.
///
/// Tasks in `absent` (slots a later scale-up adds, or a scale-down removed) are not
/// part of their service now: they neither move nor take a place or a port.
pub fn reschedule_with(
    topo: &Topology,
    placement: &Placement,
    down: &BTreeSet<usize>,
    drained: &BTreeSet<usize>,
    absent: &BTreeSet<usize>,
    timing: &SwarmTiming,
) -> Vec<TaskDecision> {
    let gone = |h: &usize| down.contains(h) || drained.contains(h);
    let affected: Vec<usize> = (0..placement.tasks.len())
        .filter(|&t| gone(&placement.tasks[t].host) && !absent.contains(&t))
        .collect();
    let managers: Vec<usize> = (0..topo.hosts.len())
        .filter(|&h| topo.hosts[h].role == SwarmRole::Manager)
        .collect();
    let managers_up = managers.iter().filter(|h| !down.contains(h)).count();
    if managers_up * 2 <= managers.len() {
        let reason = format!(
            "no manager quorum: {managers_up} of {} managers up",
            managers.len()
        );
        return affected
            .into_iter()
            .map(|task| TaskDecision {
                task,
                decision: Decision::Pending {
                    reason: reason.clone(),
                },
            })
            .collect();
    }

    // What keeps running: tasks per (host, service), tasks per host, ports per host.
    let mut mine: BTreeMap<(usize, usize), u32> = BTreeMap::new();
    let mut total = vec![0u32; topo.hosts.len()];
    let mut ports: Vec<BTreeSet<u16>> = vec![BTreeSet::new(); topo.hosts.len()];
    for (_, t) in placement
        .tasks
        .iter()
        .enumerate()
        .filter(|(i, t)| !gone(&t.host) && !absent.contains(i))
    {
        *mine.entry((t.host, t.service)).or_default() += 1;
        total[t.host] += 1;
        ports[t.host].extend(topo.services[t.service].ports.iter().copied());
    }

    let mut out = Vec::new();
    for task in affected {
        let t = &placement.tasks[task];
        let svc = &topo.services[t.service];
        let pending = |reason: String| TaskDecision {
            task,
            decision: Decision::Pending { reason },
        };
        if svc.mode == ServiceMode::Global {
            out.push(pending(format!(
                "global service: its task on {} returns with that host{}",
                topo.hosts[t.host].name,
                if drained.contains(&t.host) {
                    " (when its availability is active again)"
                } else {
                    ""
                }
            )));
            continue;
        }
        if svc.restart_policy.condition == RestartCondition::None {
            out.push(pending(
                "restart policy condition none: Swarm does not replace the task".into(),
            ));
            continue;
        }
        let up = |h: &usize| !gone(h);
        let matching: Vec<usize> = (0..topo.hosts.len())
            .filter(up)
            .filter(|&h| svc.constraints.iter().all(|c| c.matches(&topo.hosts[h])))
            .collect();
        let target = matching
            .iter()
            .copied()
            .filter(|&h| svc.ports.iter().all(|p| !ports[h].contains(p)))
            .min_by_key(|&h| (mine.get(&(h, t.service)).copied().unwrap_or(0), total[h], h));
        match target {
            Some(h) => {
                *mine.entry((h, t.service)).or_default() += 1;
                total[h] += 1;
                ports[h].extend(svc.ports.iter().copied());
                out.push(TaskDecision {
                    task,
                    decision: Decision::Reschedule {
                        to_host: h,
                        at: if drained.contains(&t.host) && !down.contains(&t.host) {
                            SimDuration::ZERO
                        } else {
                            timing.node_down_after() + svc.restart_policy.delay
                        },
                    },
                });
            }
            None if matching.is_empty() => {
                let blocking = svc.constraints.iter().find(|c| {
                    !(0..topo.hosts.len())
                        .filter(up)
                        .any(|h| c.matches(&topo.hosts[h]))
                });
                let reason = match blocking {
                    Some(c) => format!("no eligible host: constraint {c}"),
                    None => format!(
                        "no eligible host: constraints [{}] taken together",
                        svc.constraints
                            .iter()
                            .map(|c| c.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                out.push(pending(reason));
            }
            None => {
                let taken: Vec<String> = matching
                    .iter()
                    .map(|&h| {
                        let p: Vec<String> = svc
                            .ports
                            .iter()
                            .filter(|p| ports[h].contains(p))
                            .map(|p| p.to_string())
                            .collect();
                        format!("{} (port {})", topo.hosts[h].name, p.join(", "))
                    })
                    .collect();
                out.push(pending(format!(
                    "no eligible host: host-mode ports already published on {}",
                    taken.join(", ")
                )));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swarm::{place, test_topology};

    fn seed() -> (Topology, Placement) {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/seed-26-hosts.toml");
        let t = crate::scenario::load_topology(&path, None).unwrap();
        let p = place(&t).unwrap();
        (t, p)
    }

    fn down(t: &Topology, names: &[&str]) -> BTreeSet<usize> {
        names.iter().map(|n| t.host_index(n).unwrap()).collect()
    }

    /// (task name, host name or pending reason, time in seconds or -1).
    fn readable(t: &Topology, p: &Placement, d: &[TaskDecision]) -> Vec<(String, String, f64)> {
        d.iter()
            .map(|x| {
                let name = p.tasks[x.task].name.clone();
                match &x.decision {
                    Decision::Reschedule { to_host, at } => {
                        (name, t.hosts[*to_host].name.clone(), at.as_secs_f64())
                    }
                    Decision::Pending { reason } => (name, reason.clone(), -1.0),
                }
            })
            .collect()
    }

    #[test]
    fn detection_takes_fifteen_and_a_half_seconds() {
        assert_eq!(
            SwarmTiming::default().node_down_after(),
            SimDuration::from_millis(15_500)
        );
    }

    #[test]
    fn losing_coord1_moves_its_coordinators_and_data_node_to_coord2() {
        let (t, p) = seed();
        let d = reschedule(&t, &p, &down(&t, &["coord1"]), &SwarmTiming::default());
        // Detection 15.5 s + restart delay 60 s (reference §2.10).
        let want: Vec<(String, String, f64)> = ["rootcoord.1", "datacoord.1", "data1.1"]
            .iter()
            .map(|n| (n.to_string(), "coord2".to_string(), 75.5))
            .collect();
        assert_eq!(readable(&t, &p, &d), want);
    }

    #[test]
    fn losing_query3_leaves_it_pending_on_its_label() {
        let (t, p) = seed();
        let d = reschedule(&t, &p, &down(&t, &["query3"]), &SwarmTiming::default());
        assert_eq!(
            readable(&t, &p, &d),
            [(
                "query3.1".to_string(),
                "no eligible host: constraint node.labels.query3==true".to_string(),
                -1.0
            )]
        );
    }

    #[test]
    fn draining_coord1_moves_its_tasks_at_once_and_keeps_the_manager_quorum() {
        let (t, p) = seed();
        let d = reschedule_with(
            &t,
            &p,
            &BTreeSet::new(),
            &down(&t, &["coord1"]),
            &BTreeSet::new(),
            &SwarmTiming::default(),
        );
        let want: Vec<(String, String, f64)> = ["rootcoord.1", "datacoord.1", "data1.1"]
            .iter()
            .map(|n| (n.to_string(), "coord2".to_string(), 0.0))
            .collect();
        assert_eq!(readable(&t, &p, &d), want);
        // A drained manager still votes: with manager1 down and manager2 drained,
        // two of three managers keep the quorum.
        let d = reschedule_with(
            &t,
            &p,
            &down(&t, &["manager1"]),
            &down(&t, &["manager2"]),
            &BTreeSet::new(),
            &SwarmTiming::default(),
        );
        assert!(
            d.iter()
                .all(|x| !matches!(&x.decision, Decision::Pending { reason } if reason.contains("quorum"))),
            "{:?}",
            readable(&t, &p, &d)
        );
        // manager1's minio-proxy moves to manager3 after detection and its delay;
        // manager3 already publishes the ports the others need.
        let r = readable(&t, &p, &d);
        assert!(
            r.contains(&("minio-proxy.1".into(), "manager3".into(), 20.5)),
            "{r:?}"
        );
    }

    #[test]
    fn losing_a_broker_host_leaves_the_global_task_with_it() {
        let (t, p) = seed();
        let d = reschedule(&t, &p, &down(&t, &["broker1"]), &SwarmTiming::default());
        let r = readable(&t, &p, &d);
        assert_eq!(r.len(), 1);
        assert!(r[0].1.starts_with("global service"), "{r:?}");
    }

    #[test]
    fn losing_a_proxy_manager_moves_its_tasks_to_the_third_manager() {
        let (t, p) = seed();
        // The proxies run on manager2 and manager3 (host-mode port 19530).
        let d = reschedule(&t, &p, &down(&t, &["manager2"]), &SwarmTiming::default());
        let r = readable(&t, &p, &d);
        assert!(
            r.contains(&("milvus-proxy.1".into(), "manager1".into(), 75.5)),
            "{r:?}"
        );
        // minio-proxy publishes 9090, already taken on manager1; nginx restarts after
        // Swarm's default delay (GUESS 5 s).
        assert!(
            r.contains(&("minio-proxy.2".into(), "manager3".into(), 20.5)),
            "{r:?}"
        );
    }

    #[test]
    fn losing_two_of_three_managers_stops_all_rescheduling() {
        let (t, p) = seed();
        let d = reschedule(
            &t,
            &p,
            &down(&t, &["manager1", "manager2", "coord1"]),
            &SwarmTiming::default(),
        );
        assert!(!d.is_empty());
        for x in &d {
            assert_eq!(
                x.decision,
                Decision::Pending {
                    reason: "no manager quorum: 1 of 3 managers up".into()
                }
            );
        }
        // One proxy is left pending; the other runs on manager3.
        let r = readable(&t, &p, &d);
        let proxies: Vec<&str> = r
            .iter()
            .filter(|x| x.0.starts_with("milvus-proxy"))
            .map(|x| x.0.as_str())
            .collect();
        assert_eq!(proxies, ["milvus-proxy.1"]);
        // Quorum back (only manager1 down): everything is placed again.
        let d = reschedule(
            &t,
            &p,
            &down(&t, &["manager1", "coord1"]),
            &SwarmTiming::default(),
        );
        assert!(d
            .iter()
            .all(|x| matches!(x.decision, Decision::Reschedule { .. })));
    }

    #[test]
    fn host_mode_ports_leave_a_replica_pending_when_hosts_run_out() {
        // Five managers keep quorum with two down; the proxies may run on three.
        let mut text = String::from(
            "[class.m]\ncores = 8\nghz = 2.4\nisa = \"avx512\"\nmemory = \"16GiB\"\nmemory_bandwidth = \"60GB/s\"\nnic = \"10Gbps\"\ndisk = { size = \"250GB\", read = \"500MB/s\", write = \"450MB/s\", iops = 50000, fsync_latency = \"1ms\" }\n",
        );
        for i in 1..=5 {
            let label = if i <= 3 {
                "labels = { proxy = \"true\" }\n"
            } else {
                ""
            };
            text.push_str(&format!(
                "\n[[host]]\nname = \"m{i}\"\naddress = \"10.0.0.{i}\"\nclass = \"m\"\nrole = \"manager\"\n{label}"
            ));
        }
        text.push_str("\n[[service]]\nname = \"proxy\"\nkind = \"proxy\"\nreplicas = 2\nports = [19530]\nconstraints = [\"node.labels.proxy==true\"]\nrestart_policy = { condition = \"on-failure\", delay = \"60s\" }\n");
        let t = test_topology(&text);
        let p = place(&t).unwrap();
        let one = reschedule(&t, &p, &down(&t, &["m1"]), &SwarmTiming::default());
        assert_eq!(
            readable(&t, &p, &one),
            [("proxy.1".into(), "m3".into(), 75.5)]
        );
        let two = reschedule(&t, &p, &down(&t, &["m1", "m2"]), &SwarmTiming::default());
        assert_eq!(
            readable(&t, &p, &two),
            [
                ("proxy.1".into(), "m3".into(), 75.5),
                (
                    "proxy.2".into(),
                    "no eligible host: host-mode ports already published on m3 (port 19530)".into(),
                    -1.0
                )
            ]
        );
    }
}
