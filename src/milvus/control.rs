//! The fault schedule as an actor: it breaks hosts and processes at the times the
//! experiment gives, keeps the etcd sessions of dead processes until their leases run
//! out (reference §2.1), and starts processes again as Docker Swarm would
//! (reference §2.10).

use rand::RngExt;

use std::collections::BTreeSet;

use crate::engine::{ActorId, Ctx, SimDuration, SimTime};
use crate::scenario::faults::{Fault, FaultKind, FaultTarget};
use crate::scenario::topology::{RestartCondition, ServiceKind, Topology};
use crate::swarm::reschedule::{reschedule_with, Decision, SwarmTiming};
use crate::swarm::Placement;

use super::msg::Msg;
use super::world::World;

pub struct Control {
    faults: Vec<Fault>,
    topology: Topology,
    /// Where every task runs now, as Swarm sees it.
    placement: Placement,
    timing: SwarmTiming,
    /// When each host went down (while it is down).
    down_since: Vec<Option<SimTime>>,
    /// Hosts Swarm has declared down (and not seen again).
    declared_down: Vec<bool>,
    /// Tasks Swarm left pending (reported once).
    pending: Vec<bool>,
    /// Milvus processes started while etcd had no quorum, waiting to register.
    waiting_for_etcd: Vec<bool>,
    /// Lease expiries that etcd could not carry out without a quorum.
    deferred_expiries: Vec<(usize, u8)>,
    /// The run starts cold (its first health reports are scheduled with the starts).
    cold_start: bool,
    started_once: Vec<bool>,
    /// Actor of each placement task (simulated tasks only).
    actor_of_task: Vec<Option<ActorId>>,
    /// Coordinators waiting for their old session key to go before registering
    /// (reference §2.1 item 4: exclusive keys).
    waiting_for_key: Vec<bool>,
    /// Per task: a network cut separates it from querycoord (a query node) or from
    /// the etcd quorum, as last reported.
    qc_cut: Vec<bool>,
    etcd_cut: Vec<bool>,
    /// Per task: how many times it lost etcd (a lease lapse of an earlier cut is void).
    etcd_epoch: Vec<u16>,
    /// Failed tasks whose host the Swarm managers cannot hear: restarted once they can.
    swarm_waiting: Vec<bool>,
    /// Faults in force.
    active: Vec<bool>,
    /// Hosts whose Swarm availability is `drain`.
    drained: Vec<bool>,
    /// Per task: the host its replacement starts on once it has stopped (a drain).
    move_on_stop: Vec<Option<usize>>,
    /// Per task: when Swarm restarted it (for the restart policy's attempts).
    restarts: Vec<Vec<SimTime>>,
    /// Per host: a network cut keeps its heartbeats from the managers (since when,
    /// and how many cuts it has had), and whether Swarm declared it down for that.
    unheard: Vec<Option<SimTime>>,
    unheard_epoch: Vec<u16>,
    cut_down: Vec<bool>,
    /// Per task cut off from etcd: when its lease runs out.
    lapse_at: Vec<Option<SimTime>>,
}

impl Control {
    pub fn new(
        faults: Vec<Fault>,
        topology: Topology,
        placement: Placement,
        actor_of_task: Vec<Option<ActorId>>,
        cold_start: bool,
    ) -> Self {
        let n = actor_of_task.len();
        let hosts = topology.hosts.len();
        Control {
            faults,
            topology,
            placement,
            timing: SwarmTiming::default(),
            down_since: vec![None; hosts],
            declared_down: vec![false; hosts],
            pending: vec![false; n],
            waiting_for_etcd: vec![false; n],
            deferred_expiries: Vec::new(),
            cold_start,
            started_once: vec![false; n],
            actor_of_task,
            waiting_for_key: vec![false; n],
            qc_cut: vec![false; n],
            etcd_cut: vec![false; n],
            etcd_epoch: vec![0; n],
            swarm_waiting: vec![false; n],
            active: Vec::new(),
            drained: vec![false; hosts],
            move_on_stop: vec![None; n],
            restarts: vec![Vec::new(); n],
            unheard: vec![None; hosts],
            unheard_epoch: vec![0; hosts],
            cut_down: vec![false; hosts],
            lapse_at: vec![None; n],
        }
    }

    /// The first messages: one per fault start and repair.
    pub fn schedule(&self) -> Vec<(SimTime, Msg)> {
        let mut out = Vec::new();
        for (i, f) in self.faults.iter().enumerate() {
            out.push((SimTime::ZERO + f.at, Msg::FaultStarts { fault: i as u16 }));
            if let Some(r) = f.recover_at {
                out.push((SimTime::ZERO + r, Msg::FaultEnds { fault: i as u16 }));
            }
        }
        out
    }

    pub fn on_fault_starts(&mut self, fault: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let f = self.faults[fault].clone();
        ctx.world.current_fault = Some(fault);
        let (host, service) = self.target_names(&f, ctx.world);
        ctx.world.rec.event(
            now,
            "fault_injected",
            &host,
            &service,
            format!("{}: {}", f.label, f.kind.name()),
        );
        if f.kind == FaultKind::HostStart {
            return self.power_on(&f, ctx);
        }
        if f.kind == FaultKind::DrainHost {
            return self.drain(&f, ctx);
        }
        if f.kind == FaultKind::ScaleService {
            return self.scale(&f, ctx);
        }
        if let FaultTarget::Collection { release_first } = f.target {
            // The application's load() call reaches querycoord (through a proxy).
            let qc = ctx.world.querycoord;
            let replicas = f.replicas.expect("validation: load_replicas has replicas") as u8;
            ctx.send(
                qc,
                Msg::LoadReplicas {
                    replicas,
                    release_first,
                },
                SimDuration::ZERO,
            );
            return;
        }
        if f.kind.is_link_or_disk() {
            return self.start_link_or_disk(fault, &f, ctx);
        }
        if let FaultTarget::Host(h) = f.target {
            ctx.world.hosts[h].up = false;
            self.down_since[h] = Some(now);
            ctx.world.rec.event(
                now,
                "host_down",
                &host,
                "",
                "host lost: every task on it stops".into(),
            );
            // reference §2.10: Swarm declares the node down after missing heartbeats.
            let me = ctx.me();
            ctx.send(
                me,
                Msg::SwarmNodeDown { host: h as u16 },
                self.timing.node_down_after(),
            );
            // A lost manager may leave other hosts unheard.
            self.check_heartbeats(ctx);
        }
        for t in self.tasks_of(&f, ctx.world) {
            if !ctx.world.tasks[t].up {
                continue;
            }
            if f.kind == FaultKind::ProcessStop {
                self.stop_gracefully(t, ctx);
                continue;
            }
            self.stop_task(t, false, ctx);
            // Swarm restarts a crashed container, unless the fault says when it is back.
            if f.kind == FaultKind::ProcessCrash && f.recover_at.is_none() {
                self.restart_later(t, ctx);
            }
        }
    }

    /// `docker service scale`/`update`: SIGTERM, then SIGKILL after the grace period.
    fn stop_gracefully(&mut self, t: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let me = ctx.me();
        let kind = ctx.world.tasks[t].kind;
        if !ctx.world.failover.sigterm_reaches_process && kind.is_milvus() {
            // reference §2.10: bash is PID 1 and milvus never sees the SIGTERM.
            let grace = self.topology.services[self.placement.tasks[t].service].stop_grace_period;
            ctx.world.task_event(
                now,
                "task_stopping",
                t,
                "SIGTERM goes to bash (PID 1), not to milvus: SIGKILL after the stop grace period"
                    .into(),
            );
            let gen = ctx.world.tasks[t].gen;
            ctx.send(
                me,
                Msg::StopNow {
                    task: t as u32,
                    graceful: false,
                    gen,
                },
                grace,
            );
            return;
        }
        let node = ctx.world.node_of_task(t);
        let Some(node) = node.filter(|_| kind == ServiceKind::Querynode) else {
            self.stop_task(t, true, ctx);
            return;
        };
        // reference §2.2 graceful stop: the node is marked Stopping, querycoord moves
        // its segments and channels away first, then the node exits.
        ctx.world.task_event(
            now,
            "task_stopping",
            t,
            "Stopping: querycoord moves its segments and channels away before it exits".into(),
        );
        let qc = ctx.world.querycoord;
        ctx.send(
            qc,
            Msg::NodeStopping { node: node as u16 },
            SimDuration::ZERO,
        );
        // The node exits by itself after common.gracefulStopTimeout, but Docker
        // sends SIGKILL once the stop grace period is over (reference §2.10: 10 s
        // unless the service sets stop_grace_period), whichever comes first.
        let own = ctx.world.failover.graceful_stop_timeout;
        let grace = self.topology.services[self.placement.tasks[t].service].stop_grace_period;
        let (after, graceful) = if own < grace {
            (own, true)
        } else {
            (grace, false)
        };
        let gen = ctx.world.tasks[t].gen;
        ctx.send(
            me,
            Msg::StopNow {
                task: t as u32,
                graceful,
                gen,
            },
            after,
        );
    }

    pub fn on_stop_now(
        &mut self,
        t: usize,
        graceful: bool,
        gen: u8,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let task = &ctx.world.tasks[t];
        if task.up && task.gen == gen {
            self.stop_task(t, graceful, ctx);
        }
    }

    /// The node holds nothing; it exits once the searches it is still running finish
    /// (GUESS: within a second; searches take milliseconds).
    pub fn on_node_drained(&mut self, node: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let t = ctx.world.query_node_tasks[node];
        let me = ctx.me();
        let gen = ctx.world.tasks[t].gen;
        ctx.send(
            me,
            Msg::StopNow {
                task: t as u32,
                graceful: true,
                gen,
            },
            SimDuration::from_secs(1),
        );
    }

    /// Scale-out: the host comes up and Swarm starts the tasks placed on it.
    fn power_on(&mut self, f: &Fault, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let FaultTarget::Host(h) = f.target else {
            unreachable!("validation: host_start targets a host")
        };
        ctx.world.hosts[h].up = true;
        self.host_event(ctx, h, "host_up", "host powered on: Swarm starts its tasks");
        let at = now + ctx.world.failover.startup();
        for t in self.tasks_of(f, ctx.world) {
            self.start_at(t, at, ctx);
        }
    }

    /// The tasks a fault stops: those running on the host now, or the named ones.
    fn tasks_of(&self, f: &Fault, w: &World) -> Vec<usize> {
        match &f.target {
            FaultTarget::Host(h) => (0..w.tasks.len())
                .filter(|&t| w.tasks[t].host == *h)
                .collect(),
            FaultTarget::Tasks(ts) => ts.clone(),
            FaultTarget::Link { .. }
            | FaultTarget::Disk { .. }
            | FaultTarget::Collection { .. } => Vec::new(),
        }
    }

    /// reference §2.10: once a node is declared down, the dispatcher starts each of its
    /// tasks on another eligible host after the restart delay, or leaves it pending.
    /// Without a Raft quorum of managers nothing is rescheduled.
    pub fn on_swarm_node_down(&mut self, host: usize, ctx: &mut Ctx<'_, Msg, World>) {
        if self.down_since[host].is_none() {
            return; // back before Swarm noticed
        }
        let now = ctx.now();
        ctx.world.note_detected(now);
        self.declared_down[host] = true;
        ctx.world.hosts[host].swarm_down = true;
        self.host_event(
            ctx,
            host,
            "swarm_node_down",
            "Swarm: heartbeats missed for the grace period; the node is down",
        );
        self.decide(host, ctx);
    }

    /// Swarm's decision for the stopped tasks still placed on down host `host`.
    fn decide(&mut self, host: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let Some(since) = self.down_since[host] else {
            return;
        };
        let now = ctx.now();
        let decisions = self.decisions(ctx.world);
        for d in decisions {
            let t = d.task;
            if self.placement.tasks[t].host != host || ctx.world.tasks[t].up {
                continue;
            }
            // A pending task is reported once, until something changes.
            if matches!(d.decision, Decision::Pending { .. }) && self.pending[t] {
                continue;
            }
            match d.decision {
                Decision::Reschedule { to_host, at } => {
                    let start = (since + at).max(now) + ctx.world.failover.startup();
                    self.rehome(t, to_host, ctx, |to| {
                        format!("Swarm: replacement task on {to}, starting after the restart delay")
                    });
                    self.send_move(t, to_host, start, ctx);
                }
                Decision::Pending { reason } => {
                    self.pending[t] = true;
                    ctx.world
                        .task_event(now, "task_pending", t, format!("Swarm: {reason}"));
                }
            }
        }
    }

    /// Swarm's decisions for the tasks of down and drained hosts, as things stand.
    fn decisions(&self, w: &World) -> Vec<crate::swarm::reschedule::TaskDecision> {
        let hosts = |set: &dyn Fn(usize) -> bool| -> BTreeSet<usize> {
            (0..self.down_since.len()).filter(|&h| set(h)).collect()
        };
        let down = hosts(&|h| self.down_since[h].is_some() || self.cut_down[h]);
        let drained = hosts(&|h| self.drained[h]);
        let absent: BTreeSet<usize> = (0..w.tasks.len())
            .filter(|&t| !w.tasks[t].in_service)
            .collect();
        reschedule_with(
            &self.topology,
            &self.placement,
            &down,
            &drained,
            &absent,
            &self.timing,
        )
    }

    /// Swarm's decisions for the tasks placed on host `h` and still there.
    fn decisions_on(&self, h: usize, w: &World) -> Vec<(usize, Decision)> {
        self.decisions(w)
            .into_iter()
            .filter(|d| self.placement.tasks[d.task].host == h && w.tasks[d.task].host == h)
            .map(|d| (d.task, d.decision))
            .collect()
    }

    /// Swarm places task `t`'s replacement on `to_host` and says so.
    fn rehome(
        &mut self,
        t: usize,
        to_host: usize,
        ctx: &mut Ctx<'_, Msg, World>,
        detail: impl FnOnce(&str) -> String,
    ) {
        self.pending[t] = false;
        self.placement.tasks[t].host = to_host;
        let now = ctx.now();
        let detail = detail(&self.topology.hosts[to_host].name);
        ctx.world.task_event(now, "task_rescheduled", t, detail);
    }

    /// `docker node update --availability drain`: the orchestrator shuts the host's
    /// tasks down (`docker stop`: SIGTERM, then SIGKILL after the grace period, so a
    /// Milvus process in the users' stack is killed, reference §2.10) and creates each
    /// replacement on another eligible host, where it starts once the old task has
    /// stopped, with no restart delay (swarmkit restart supervisor). Pinned tasks
    /// stay pending until the host is active again.
    fn drain(&mut self, f: &Fault, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let FaultTarget::Host(h) = f.target else {
            unreachable!("validation: drain_host targets a host")
        };
        self.drained[h] = true;
        self.host_event(
            ctx,
            h,
            "host_drained",
            "Swarm availability drain: its tasks stop and are replaced where constraints allow",
        );
        for (t, decision) in self.decisions_on(h, ctx.world) {
            match decision {
                Decision::Reschedule { to_host, .. } => {
                    self.rehome(t, to_host, ctx, |to| {
                        format!("Swarm: node drained; the replacement task on {to} starts once this one has stopped")
                    });
                    if ctx.world.tasks[t].up {
                        self.move_on_stop[t] = Some(to_host);
                    } else {
                        let at = now + ctx.world.failover.startup();
                        self.send_move(t, to_host, at, ctx);
                    }
                }
                Decision::Pending { reason } => {
                    self.pending[t] = true;
                    ctx.world
                        .task_event(now, "task_pending", t, format!("Swarm: {reason}"));
                }
            }
        }
        for t in self.tasks_of(f, ctx.world) {
            if ctx.world.tasks[t].up {
                self.stop_gracefully(t, ctx);
            }
        }
    }

    /// The drain ends (availability active): tasks left pending on the host start
    /// there again; tasks Swarm moved away stay where they are (no rebalancing).
    fn undrain(&mut self, h: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        self.drained[h] = false;
        self.host_event(
            ctx,
            h,
            "host_active",
            "Swarm availability active: pending tasks may start on it again",
        );
        let at = now + ctx.world.failover.startup();
        // Only the tasks the drain left pending: a task down for another reason (a
        // crash with its own repair time, a used-up restart policy) stays down.
        for t in 0..ctx.world.tasks.len() {
            let w = &ctx.world;
            let here = self.placement.tasks[t].host == h && w.tasks[t].host == h;
            if here && !w.tasks[t].up && self.pending[t] {
                self.pending[t] = false;
                self.start_at(t, at, ctx);
            }
        }
        // Tasks pending on down hosts may now fit here.
        for d in 0..self.declared_down.len() {
            if self.declared_down[d] {
                self.decide(d, ctx);
            }
        }
    }

    /// `docker service scale SERVICE=N`. New slots start where Swarm placed them (the
    /// spread rule, decided when the experiment was loaded), or on another eligible
    /// host if that one is down or drained now; a new query node registers and
    /// querycoord takes it in (reference §2.2 "node returns": handleNodeUp, then the
    /// balance checker). Scaling down stops the highest slots with `docker stop`
    /// (GUESS: swarmkit removes tasks from the nodes that run the most of the
    /// service, which is a tie when each host runs one), so in the users' stack a
    /// removed query node is killed and its segments are reloaded elsewhere after the
    /// lease, as after a crash.
    fn scale(&mut self, f: &Fault, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let FaultTarget::Tasks(ts) = &f.target else {
            unreachable!("validation: scale_service targets a service")
        };
        let n = f.replicas.expect("validation: scale_service has replicas");
        let at = now + ctx.world.failover.startup();
        let added: Vec<usize> = ts
            .iter()
            .copied()
            .filter(|&t| self.placement.tasks[t].slot <= n && !ctx.world.tasks[t].in_service)
            .collect();
        for &t in &added {
            ctx.world.tasks[t].in_service = true;
        }
        let decisions = self.decisions(ctx.world);
        for &t in ts {
            let slot = self.placement.tasks[t].slot;
            let in_service = ctx.world.tasks[t].in_service;
            if added.contains(&t) {
                let h = self.placement.tasks[t].host;
                if ctx.world.hosts[h].up && !self.drained[h] && !self.cut_down[h] {
                    ctx.world
                        .task_event(now, "task_scheduled", t, "Swarm: new replica".into());
                    self.start_at(t, at, ctx);
                    continue;
                }
                match decisions.iter().find(|d| d.task == t).map(|d| &d.decision) {
                    Some(Decision::Reschedule { to_host, .. }) => {
                        self.placement.tasks[t].host = *to_host;
                        let to = self.topology.hosts[*to_host].name.clone();
                        ctx.world.task_event(
                            now,
                            "task_scheduled",
                            t,
                            format!("Swarm: new replica on {to} (its first choice is down)"),
                        );
                        self.send_move(t, *to_host, at, ctx);
                    }
                    Some(Decision::Pending { reason }) => {
                        self.pending[t] = true;
                        let reason = reason.clone();
                        ctx.world
                            .task_event(now, "task_pending", t, format!("Swarm: {reason}"));
                    }
                    None => {
                        // Its host is not powered on yet (a later host_start): the
                        // task starts with the host.
                        let detail = "Swarm: new replica; its host is off, it starts when the host is powered on".into();
                        ctx.world.task_event(now, "task_pending", t, detail);
                    }
                }
            } else if slot > n && in_service {
                ctx.world.tasks[t].in_service = false;
                if ctx.world.tasks[t].up {
                    self.stop_gracefully(t, ctx);
                }
            }
        }
    }

    fn host_event(
        &self,
        ctx: &mut Ctx<'_, Msg, World>,
        h: usize,
        kind: &'static str,
        detail: &str,
    ) {
        let now = ctx.now();
        let name = &self.topology.hosts[h].name;
        ctx.world.rec.event(now, kind, name, "", detail.into());
    }

    fn send_move(&mut self, t: usize, host: usize, at: SimTime, ctx: &mut Ctx<'_, Msg, World>) {
        let me = ctx.me();
        ctx.send_at(
            me,
            Msg::TaskMoves {
                task: t as u32,
                host: host as u16,
            },
            at,
        );
    }

    pub fn on_task_moves(&mut self, t: usize, host: usize, ctx: &mut Ctx<'_, Msg, World>) {
        if ctx.world.tasks[t].up {
            return;
        }
        ctx.world.move_task(t, host);
        self.on_task_starts(t, ctx);
    }

    pub fn on_fault_ends(&mut self, fault: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let f = self.faults[fault].clone();
        let (host, service) = self.target_names(&f, ctx.world);
        ctx.world.rec.event(
            now,
            "fault_repaired",
            &host,
            &service,
            format!("{}: repaired", f.label),
        );
        if f.kind.is_link_or_disk() {
            return self.end_link_or_disk(fault, &f, ctx);
        }
        if let (FaultKind::DrainHost, FaultTarget::Host(h)) = (f.kind, &f.target) {
            return self.undrain(*h, ctx);
        }
        if let FaultTarget::Host(h) = f.target {
            ctx.world.hosts[h].up = true;
            self.down_since[h] = None;
            self.declared_down[h] = false;
            ctx.world.hosts[h].swarm_down = false;
            ctx.world.rec.event(
                now,
                "host_up",
                &host,
                "",
                "host back: Swarm starts its tasks again".into(),
            );
        }
        let at = now + ctx.world.failover.startup();
        // Tasks Swarm moved elsewhere stay there (it does not rebalance); the others
        // start on this host again.
        for t in self.tasks_of(&f, ctx.world) {
            if !ctx.world.tasks[t].up && self.placement.tasks[t].host == ctx.world.tasks[t].host {
                self.pending[t] = false;
                self.start_at(t, at, ctx);
            }
        }
        // A returning manager may give Swarm its quorum back: tasks left pending on
        // other down hosts get a new decision.
        if let FaultTarget::Host(_) = f.target {
            self.check_heartbeats(ctx);
            for h in 0..self.declared_down.len() {
                if self.declared_down[h] {
                    self.decide(h, ctx);
                }
            }
        }
    }

    fn start_at(&mut self, task: usize, at: SimTime, ctx: &mut Ctx<'_, Msg, World>) {
        let me = ctx.me();
        ctx.send_at(me, Msg::TaskStarts { task: task as u32 }, at);
    }

    fn stop_task(&mut self, t: usize, graceful: bool, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let w = &mut *ctx.world;
        let task = &mut w.tasks[t];
        let old_gen = task.gen;
        task.up = false;
        task.gen = task.gen.wrapping_add(1);
        task.down_at = Some(now);
        // A session etcd already deleted (cut off from it) leaves no key behind.
        let session_lost = std::mem::take(&mut w.session_lost[t]);
        let task = &mut w.tasks[t];
        task.stale_session = !graceful && !session_lost;
        self.qc_cut[t] = false;
        // A process already cut off from etcd stopped renewing its lease at the cut.
        let lapse_at = self.lapse_at[t].take().filter(|_| self.etcd_cut[t]);
        self.etcd_cut[t] = false;
        self.etcd_epoch[t] = self.etcd_epoch[t].wrapping_add(1);
        let kind = task.kind;
        w.task_event(
            now,
            "task_stopped",
            t,
            match (graceful, kind.is_milvus()) {
                _ if session_lost => "process exited; etcd had already deleted its session".into(),
                (true, true) => "graceful stop: the session is revoked at once".into(),
                (false, true) => {
                    "process killed: its session key lingers until the lease runs out".into()
                }
                (true, false) => "container stopped".into(),
                (false, false) => "container killed".into(),
            },
        );
        if let Some(actor) = self.actor_of_task[t] {
            ctx.send(actor, Msg::Crash, SimDuration::ZERO);
        }
        if let Some(to) = self.move_on_stop[t].take() {
            let at = now + ctx.world.failover.startup();
            self.send_move(t, to, at, ctx);
        }
        if kind == ServiceKind::Etcd {
            self.check_etcd(ctx);
        }
        if kind == ServiceKind::Querynode && !session_lost {
            let node = ctx.world.node_of_task(t);
            if let Some(node) = node {
                let qc = ctx.world.querycoord;
                ctx.send(
                    qc,
                    Msg::NodeUnreachable {
                        node: node as u16,
                        gen: old_gen,
                    },
                    SimDuration::ZERO,
                );
            }
        }
        if !kind.is_milvus() || session_lost {
            return;
        }
        // reference §2.1 item 1: keep-alives go about every TTL/3, so the lease of a
        // killed process runs out between 2/3 TTL and TTL after the kill.
        let ttl = ctx.world.failover.session_ttl;
        let expires = if graceful {
            SimDuration::ZERO
        } else if let Some(at) = lapse_at {
            at.since(now)
        } else {
            let since_keepalive = ctx.rng().random::<f64>() * ttl.as_secs_f64() / 3.0;
            SimDuration::from_secs_f64(ttl.as_secs_f64() - since_keepalive)
        };
        let me = ctx.me();
        ctx.send(
            me,
            Msg::SessionExpires {
                task: t as u32,
                gen: old_gen,
            },
            expires,
        );
    }

    pub fn on_session_expires(&mut self, t: usize, gen: u8, ctx: &mut Ctx<'_, Msg, World>) {
        if !ctx.world.etcd_quorum() {
            // Without a quorum etcd expires nothing; the lease runs again once it is
            // back.
            self.deferred_expiries.push((t, gen));
            return;
        }
        let now = ctx.now();
        // Watchers see the session deleted: the cluster knows the process is gone.
        ctx.world.note_detected(now);
        let w = &mut *ctx.world;
        w.tasks[t].stale_session = false;
        let kind = w.tasks[t].kind;
        w.task_event(
            now,
            "session_expired",
            t,
            "etcd lease gone: watchers see the session deleted".into(),
        );
        if kind == ServiceKind::Querynode {
            if let Some(node) = w.node_of_task(t) {
                let qc = w.querycoord;
                ctx.send(
                    qc,
                    Msg::NodeSessionGone {
                        node: node as u16,
                        gen,
                    },
                    SimDuration::ZERO,
                );
            }
        }
        if std::mem::take(&mut self.waiting_for_key[t]) {
            self.start_now(t, ctx);
        }
    }

    pub fn on_task_starts(&mut self, t: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let w = &*ctx.world;
        let task = &w.tasks[t];
        // A slot a scale-down removed is not started again, and a restart decided
        // before Swarm moved the task, or for a host it has since drained or
        // declared down, is void.
        let h = task.host;
        if task.up
            || !w.hosts[h].up
            || !task.in_service
            || self.placement.tasks[t].host != h
            || self.drained[h]
            || self.cut_down[h]
        {
            return;
        }
        // reference §2.7: a Milvus process blocks at start until it can register its
        // session, which needs an etcd quorum.
        if task.kind.is_milvus() && !w.has_etcd(t) {
            self.waiting_for_etcd[t] = true;
            let now = ctx.now();
            ctx.world.task_event(
                now,
                "task_waiting",
                t,
                "started; session registration retries until etcd has a quorum again".into(),
            );
            return;
        }
        // reference §2.1 item 4: a coordinator registers only after the old key has
        // gone.
        let exclusive = matches!(
            task.kind,
            ServiceKind::Rootcoord
                | ServiceKind::Querycoord
                | ServiceKind::Datacoord
                | ServiceKind::Indexcoord
        );
        if exclusive && task.stale_session {
            self.waiting_for_key[t] = true;
            let now = ctx.now();
            ctx.world.task_event(
                now,
                "task_waiting",
                t,
                "coordinator started; waiting for the old session key to expire before registering"
                    .into(),
            );
            return;
        }
        self.start_now(t, ctx);
    }

    fn start_now(&mut self, t: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        // reference §2.10: Docker runs the first health probe one interval after the
        // container started, then every interval; it passes once the process serves.
        // (A cold start's first health reports come with its start-order schedule.)
        if !self.cold_start || self.started_once[t] {
            let startup = ctx.world.failover.startup();
            let began = SimTime(now.0.saturating_sub(startup.0));
            let svc = &self.topology.services[self.placement.tasks[t].service];
            let healthy = (began
                + crate::swarm::start_order::healthy_after(startup, svc.healthcheck.as_ref()))
            .max(now);
            let me = ctx.me();
            ctx.send_at(me, Msg::TaskHealthy { task: t as u32 }, healthy);
        }
        self.started_once[t] = true;
        let w = &mut *ctx.world;
        w.tasks[t].up = true;
        w.tasks[t].down_at = None;
        let gen = w.tasks[t].gen;
        let kind = w.tasks[t].kind;
        w.task_event(
            now,
            "task_started",
            t,
            if kind.is_milvus() {
                "process running with a new server id".into()
            } else {
                "container running".into()
            },
        );
        if kind == ServiceKind::Etcd {
            self.check_etcd(ctx);
        }
        let Some(actor) = self.actor_of_task[t] else {
            return;
        };
        ctx.send(actor, Msg::Start, SimDuration::ZERO);
        self.check_links(ctx);
        if kind == ServiceKind::Querynode {
            if let Some(node) = ctx.world.node_of_task(t) {
                ctx.world.forget_node(node);
                let qc = ctx.world.querycoord;
                ctx.send(
                    qc,
                    Msg::NodeRegistered {
                        node: node as u16,
                        gen,
                    },
                    SimDuration::ZERO,
                );
            }
        }
    }

    pub fn on_task_healthy(&mut self, t: usize, ctx: &mut Ctx<'_, Msg, World>) {
        if ctx.world.tasks[t].up {
            let now = ctx.now();
            ctx.world
                .task_event(now, "task_healthy", t, "first health probe passed".into());
        }
    }

    /// reference §2.7: with the quorum intact, losing the leader costs an election:
    /// the election timeout, randomised up to twice it (etcd's default 1000 ms; the
    /// users' stack does not override it). Writes wait meanwhile.
    fn elect_etcd_leader(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        if ctx.world.etcd_electing_until.is_some() {
            return;
        }
        let timeout = ctx.world.failover.etcd_election_timeout.as_secs_f64();
        let after = timeout * (1.0 + ctx.rng().random::<f64>());
        let until = ctx.now() + SimDuration::from_secs_f64(after);
        ctx.world.etcd_electing_until = Some(until);
        ctx.world.etcd_leader = None;
        let me = ctx.me();
        ctx.send_at(me, Msg::EtcdLeaderElected, until);
    }

    pub fn on_etcd_leader_elected(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        ctx.world.etcd_electing_until = None;
        if !ctx.world.etcd_quorum() {
            return;
        }
        let now = ctx.now();
        let w = &mut *ctx.world;
        let leader = w.etcd_tasks.iter().copied().find(|&t| w.tasks[t].up);
        w.etcd_leader = leader;
        if let Some(t) = leader {
            let name = w.tasks[t].name.clone();
            w.task_event(
                now,
                "etcd_leader_elected",
                t,
                format!("etcd: {name} leads; writes go through again"),
            );
        }
    }

    /// reference §2.7: etcd's quorum or leader came or went with a member.
    fn check_etcd(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let quorum = ctx.world.etcd_quorum();
        let leader_gone = ctx
            .world
            .etcd_leader
            .is_some_and(|t| !ctx.world.tasks[t].up);
        if quorum && leader_gone && ctx.world.etcd_lost_at.is_none() {
            ctx.world.note_detected(now);
            ctx.world.rec.event(
                now,
                "etcd_leader_lost",
                "",
                "etcd",
                "etcd leader gone: the members elect a new one; writes wait".into(),
            );
            self.elect_etcd_leader(ctx);
        }
        match (ctx.world.etcd_lost_at, quorum) {
            (None, false) => {
                ctx.world.etcd_lost_at = Some(now);
                ctx.world.etcd_leader = None;
                ctx.world.note_detected(now);
                ctx.world.rec.event(
                    now,
                    "etcd_quorum_lost",
                    "",
                    "etcd",
                    "etcd has no quorum: metadata writes fail, leases cannot be kept alive, the TSO window cannot be saved".into(),
                );
                // reference §2.1 item 5, §2.7: keep-alives fail; after the lease and
                // three 10 s KeepAliveOnce retries every Milvus process exits.
                let ttl = ctx.world.failover.session_ttl.as_secs_f64();
                let me = ctx.me();
                for t in 0..ctx.world.tasks.len() {
                    let task = &ctx.world.tasks[t];
                    if !(task.up && task.kind.is_milvus()) {
                        continue;
                    }
                    let gen = task.gen;
                    let lease_left = ttl - ctx.rng().random::<f64>() * ttl / 3.0;
                    let exit = SimDuration::from_secs_f64(lease_left + 3.0 * 10.0);
                    ctx.send(
                        me,
                        Msg::EtcdLivenessExit {
                            task: t as u32,
                            gen,
                        },
                        exit,
                    );
                }
            }
            (Some(_), true) => {
                ctx.world.etcd_lost_at = None;
                ctx.world.rec.event(
                    now,
                    "etcd_quorum_restored",
                    "",
                    "etcd",
                    "etcd has a quorum again: sessions register, old leases run out".into(),
                );
                // Leases get a fresh TTL under the new leader (inference: etcd v3
                // refreshes lease TTLs on leader change), so stale sessions go a TTL
                // from now.
                let ttl = ctx.world.failover.session_ttl;
                let me = ctx.me();
                for (t, gen) in std::mem::take(&mut self.deferred_expiries) {
                    ctx.send(
                        me,
                        Msg::SessionExpires {
                            task: t as u32,
                            gen,
                        },
                        ttl,
                    );
                }
                for t in 0..self.waiting_for_etcd.len() {
                    if std::mem::take(&mut self.waiting_for_etcd[t]) {
                        self.on_task_starts(t, ctx);
                    }
                }
                self.elect_etcd_leader(ctx);
            }
            _ => {}
        }
    }

    pub fn on_etcd_liveness_exit(&mut self, t: usize, gen: u8, ctx: &mut Ctx<'_, Msg, World>) {
        if ctx.world.etcd_quorum() || !ctx.world.alive(t, gen) {
            return;
        }
        let now = ctx.now();
        ctx.world.task_event(
            now,
            "liveness_exit",
            t,
            "etcd keep-alive failed (lease + 3 x 10 s retries): the process stops itself".into(),
        );
        self.stop_task(t, false, ctx);
        // It then waits for etcd to register.
        self.restart_later(t, ctx);
    }

    /// reference §2.10: Swarm restarts a task that died on a live host after its
    /// restart policy's delay (and Milvus's `sleep 5`), unless the condition is none.
    fn restart_later(&mut self, t: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let svc = &self.topology.services[self.placement.tasks[t].service];
        if svc.restart_policy.condition == RestartCondition::None {
            ctx.world.task_event(
                now,
                "task_pending",
                t,
                "restart condition none: Swarm does not replace the task".into(),
            );
            return;
        }
        // reference §2.10 restart policy: at most `max_attempts` restarts within
        // `window` (over the task's life without one), as swarmkit's restart
        // supervisor counts them; then Swarm gives up on the task.
        if let Some(max) = svc.restart_policy.max_attempts.filter(|&m| m > 0) {
            let tries = &mut self.restarts[t];
            if let Some(window) = svc.restart_policy.window {
                tries.retain(|&at| now.since(at) < window);
            }
            if tries.len() as u32 >= max {
                let within = svc
                    .restart_policy
                    .window
                    .map_or(String::new(), |w| format!(" within {w}"));
                ctx.world.task_event(
                    now,
                    "task_pending",
                    t,
                    format!("Swarm: restart policy used up ({max} attempts{within}); the task is not restarted"),
                );
                return;
            }
        }
        let host = ctx.world.tasks[t].host;
        if !self.managers_hear(host, ctx.world) {
            // The managers learn of the failure when they hear from the host again
            // (inference: the restart delay then counts from that moment).
            self.swarm_waiting[t] = true;
            ctx.world.task_event(
                now,
                "task_pending",
                t,
                "Swarm: the managers cannot hear this host (network cut); the task is restarted once they can".into(),
            );
            return;
        }
        self.restarts[t].push(now);
        let at = now + svc.restart_policy.delay + ctx.world.failover.startup();
        self.start_at(t, at, ctx);
    }

    /// Whether a majority of the Swarm managers runs and reaches host `h` (a
    /// topology without managers is taken to have working ones).
    fn managers_hear(&self, h: usize, w: &World) -> bool {
        let managers: Vec<usize> = (0..self.topology.hosts.len())
            .filter(|&m| self.topology.hosts[m].role == crate::hw::SwarmRole::Manager)
            .collect();
        let hearing = managers
            .iter()
            .filter(|&&m| {
                w.hosts[m].up && w.net.reachable(w.hosts[m].endpoint, w.hosts[h].endpoint)
            })
            .count();
        managers.is_empty() || hearing * 2 > managers.len()
    }

    /// Whether a majority of the Swarm managers runs and reaches one another (a
    /// topology without managers is taken to have working ones).
    fn managers_hear_any(&self, w: &World) -> bool {
        let mut managers = (0..self.topology.hosts.len())
            .filter(|&m| self.topology.hosts[m].role == crate::hw::SwarmRole::Manager)
            .peekable();
        managers.peek().is_none() || managers.any(|m| w.hosts[m].up && self.managers_hear(m, w))
    }

    fn target_names(&self, f: &Fault, w: &World) -> (String, String) {
        match &f.target {
            FaultTarget::Disk { host, .. } => (w.hosts[*host].spec.name.clone(), String::new()),
            FaultTarget::Link { .. } => (
                f.target_name(&self.topology, &self.placement),
                String::new(),
            ),
            FaultTarget::Host(h) => (w.hosts[*h].spec.name.clone(), String::new()),
            FaultTarget::Collection { .. } => (String::new(), String::new()),
            FaultTarget::Tasks(ts) => {
                let t = &w.tasks[ts[0]];
                let host = if ts.len() == 1 {
                    w.hosts[t.host].spec.name.clone()
                } else {
                    String::new()
                };
                (host, t.service.clone())
            }
        }
    }
}

/// Link and disk faults: the processes keep running; what changes is who reaches whom
/// (reference §2.1: each detector sees a cut as it sees a death) and how fast data
/// moves.
impl Control {
    fn endpoints(hosts: &[usize], w: &World) -> Vec<usize> {
        hosts
            .iter()
            .map(|&h| w.hosts.get(h).map_or(w.client_endpoint, |x| x.endpoint))
            .collect()
    }

    fn start_link_or_disk(&mut self, i: usize, f: &Fault, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        self.active.resize(self.faults.len(), false);
        self.active[i] = true;
        match &f.target {
            FaultTarget::Link {
                hosts,
                other_side,
                degradation,
            } => {
                let a = Self::endpoints(hosts, ctx.world);
                let b = Self::endpoints(other_side, ctx.world);
                match degradation {
                    // A NIC down cuts each of its hosts from every other endpoint.
                    None if f.kind == FaultKind::NicDown => {
                        let all: Vec<usize> = a.iter().chain(&b).copied().collect();
                        for &x in &a {
                            let others: Vec<usize> =
                                all.iter().copied().filter(|&y| y != x).collect();
                            ctx.world.net.cut(i as u32, &[x], &others, now);
                        }
                        self.on_links_changed(true, ctx);
                    }
                    None => {
                        ctx.world.net.cut(i as u32, &a, &b, now);
                        self.on_links_changed(true, ctx);
                    }
                    Some(d) => ctx.world.net.degrade(i as u32, &a, &b, *d),
                }
            }
            FaultTarget::Disk { host, slowdown } => {
                if slowdown.is_none() {
                    let name = ctx.world.hosts[*host].spec.name.clone();
                    ctx.world.rec.event(
                        now,
                        "disk_full",
                        &name,
                        "",
                        "disk full: a bookie on it turns read-only (its adds fail, the brokers change ensembles); MinIO's drives on it take no new objects".into(),
                    );
                }
                self.apply_disk(*host, ctx.world);
            }
            _ => unreachable!("validation: link and disk faults target links and disks"),
        }
    }

    fn end_link_or_disk(&mut self, i: usize, f: &Fault, ctx: &mut Ctx<'_, Msg, World>) {
        self.active.resize(self.faults.len(), false);
        self.active[i] = false;
        match &f.target {
            FaultTarget::Link { degradation, .. } => {
                ctx.world.net.restore(i as u32);
                if degradation.is_none() {
                    self.on_links_changed(false, ctx);
                }
            }
            FaultTarget::Disk { host, .. } => self.apply_disk(*host, ctx.world),
            _ => unreachable!("validation: link and disk faults target links and disks"),
        }
    }

    /// The disk of host `h` reads at its spec's bandwidth over the slow_disk factors
    /// in force (MinIO serving loads), and an etcd member there syncs its log that
    /// many times slower (the DDL calls' metadata writes, `ddl::etcd_write`).
    fn apply_disk(&self, h: usize, w: &mut World) {
        let slowdown: f64 = self
            .faults
            .iter()
            .enumerate()
            .filter(|&(i, _)| self.active.get(i).copied().unwrap_or(false))
            .filter_map(|(_, f)| match f.target {
                FaultTarget::Disk {
                    host,
                    slowdown: Some(x),
                } if host == h => Some(x),
                _ => None,
            })
            .product();
        let bw = w.hosts[h].spec.disk.read_bytes_per_s / slowdown;
        w.hosts[h].disk_read.set_bytes_per_s(bw);
        w.hosts[h].fsync_slowdown = slowdown;
        w.hosts[h].disk_full = self.faults.iter().enumerate().any(|(i, f)| {
            self.active.get(i).copied().unwrap_or(false)
                && f.target
                    == FaultTarget::Disk {
                        host: h,
                        slowdown: None,
                    }
        });
    }

    /// A cut started or healed: every detector looks again, waiting starts go ahead,
    /// and downloads across a new cut break.
    fn on_links_changed(&mut self, started: bool, ctx: &mut Ctx<'_, Msg, World>) {
        // reference §2.7: a cut can split the etcd members.
        self.check_etcd(ctx);
        self.check_links(ctx);
        for t in 0..self.waiting_for_etcd.len() {
            if self.waiting_for_etcd[t] && ctx.world.has_etcd(t) {
                self.waiting_for_etcd[t] = false;
                self.on_task_starts(t, ctx);
            }
        }
        for t in 0..self.swarm_waiting.len() {
            if self.swarm_waiting[t] && self.managers_hear(ctx.world.tasks[t].host, ctx.world) {
                self.swarm_waiting[t] = false;
                self.restart_later(t, ctx);
            }
        }
        self.check_heartbeats(ctx);
        if started {
            for a in ctx.world.query_node_actors.clone() {
                ctx.send(a, Msg::LinksChanged, SimDuration::ZERO);
            }
        }
    }

    /// reference §2.10: the managers hear a worker through its heartbeats, so a host
    /// a network cut separates from the manager majority is declared down after the
    /// grace period like a dead one, although its tasks run on behind the cut.
    fn check_heartbeats(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        for h in 0..self.unheard.len() {
            let heard = !ctx.world.hosts[h].up || self.managers_hear(h, ctx.world);
            match (heard, self.unheard[h]) {
                (false, None) => {
                    self.unheard[h] = Some(now);
                    self.unheard_epoch[h] = self.unheard_epoch[h].wrapping_add(1);
                    let me = ctx.me();
                    let msg = Msg::SwarmHostUnheard {
                        host: h as u16,
                        epoch: self.unheard_epoch[h],
                    };
                    ctx.send(me, msg, self.timing.node_down_after());
                }
                (true, Some(_)) => {
                    self.unheard[h] = None;
                    if std::mem::take(&mut self.cut_down[h]) {
                        self.host_event(
                            ctx,
                            h,
                            "swarm_node_ready",
                            "Swarm hears the host again; tasks it moved away stay where they are",
                        );
                    }
                }
                _ => {}
            }
        }
    }

    /// The grace period has passed without a heartbeat from running host `h`: Swarm
    /// declares it down and starts each task it may move on another host after the
    /// restart delay (inference: the replacement runs while the original, cut off,
    /// can reach nothing the replacement serves; the model stops the original, as Swarm
    /// does once the host reconnects). Tasks pinned to the host run on behind the cut.
    pub fn on_swarm_host_unheard(&mut self, h: usize, epoch: u16, ctx: &mut Ctx<'_, Msg, World>) {
        if self.unheard[h].is_none()
            || self.unheard_epoch[h] != epoch
            || self.down_since[h].is_some()
        {
            return;
        }
        if !self.managers_hear_any(ctx.world) {
            // No manager quorum to decide anything: look again later.
            let me = ctx.me();
            let msg = Msg::SwarmHostUnheard {
                host: h as u16,
                epoch,
            };
            ctx.send(me, msg, self.timing.node_down_after());
            return;
        }
        let now = ctx.now();
        ctx.world.note_detected(now);
        self.cut_down[h] = true;
        self.host_event(
            ctx,
            h,
            "swarm_node_down",
            "Swarm: no heartbeats from the host (network cut) for the grace period; it is declared down while its tasks run on behind the cut",
        );
        for (t, decision) in self.decisions_on(h, ctx.world) {
            let Decision::Reschedule { to_host, .. } = decision else {
                continue;
            };
            let svc = &self.topology.services[self.placement.tasks[t].service];
            let at = now + svc.restart_policy.delay + ctx.world.failover.startup();
            self.rehome(t, to_host, ctx, |to| {
                format!("Swarm: replacement task on {to}, starting after the restart delay; the original behind the cut is stopped")
            });
            if ctx.world.tasks[t].up {
                self.stop_task(t, false, ctx);
            }
            self.send_move(t, to_host, at, ctx);
        }
    }

    /// What each running process's peers see of it now: querycoord's distribution
    /// pull of a query node (reference §2.1 item 2) and the session keep-alives to
    /// etcd (item 1).
    fn check_links(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let qc = ctx.world.querycoord;
        let qc_task = ctx.world.task_of(qc);
        // While etcd has no quorum at all, the quorum-loss path owns every session.
        let quorum = ctx.world.etcd_quorum();
        let ttl = ctx.world.failover.session_ttl.as_secs_f64();
        for t in 0..ctx.world.tasks.len() {
            let task = &ctx.world.tasks[t];
            if !task.up {
                continue;
            }
            let (gen, kind) = (task.gen, task.kind);
            if let Some(node) = ctx.world.node_of_task(t) {
                let cut = !ctx.world.tasks_reachable(qc_task, t);
                if cut != self.qc_cut[t] {
                    self.qc_cut[t] = cut;
                    let node = node as u16;
                    let msg = if cut {
                        Msg::NodeUnreachable { node, gen }
                    } else {
                        Msg::NodeReachable { node, gen }
                    };
                    ctx.send(qc, msg, SimDuration::ZERO);
                }
            }
            if !kind.is_milvus() || !quorum || ctx.world.session_lost[t] {
                continue;
            }
            let cut = !ctx.world.has_etcd(t);
            if cut == self.etcd_cut[t] {
                continue;
            }
            self.etcd_cut[t] = cut;
            self.etcd_epoch[t] = self.etcd_epoch[t].wrapping_add(1);
            if !cut {
                ctx.world.task_event(
                    now,
                    "etcd_reachable",
                    t,
                    "session keep-alives reach etcd again before the lease ran out".into(),
                );
                continue;
            }
            ctx.world.task_event(
                now,
                "etcd_unreachable",
                t,
                "network cut: session keep-alives fail; the lease runs out unless etcd is reachable again".into(),
            );
            // reference §2.1 item 1: the last keep-alive was up to TTL/3 ago.
            let left = ttl - ctx.rng().random::<f64>() * ttl / 3.0;
            self.lapse_at[t] = Some(now + SimDuration::from_secs_f64(left));
            let epoch = self.etcd_epoch[t];
            let me = ctx.me();
            ctx.send(
                me,
                Msg::LeaseLapses {
                    task: t as u32,
                    gen,
                    epoch,
                },
                SimDuration::from_secs_f64(left),
            );
        }
    }

    /// reference §2.1 item 1: etcd deletes the session of a process it has not heard
    /// from for a lease; watchers see it gone although the process runs on.
    pub fn on_lease_lapses(
        &mut self,
        t: usize,
        gen: u8,
        epoch: u16,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        if !ctx.world.alive(t, gen)
            || epoch != self.etcd_epoch[t]
            || !self.etcd_cut[t]
            || !ctx.world.etcd_quorum()
        {
            return;
        }
        let now = ctx.now();
        ctx.world.note_detected(now);
        ctx.world.session_lost[t] = true;
        ctx.world.task_event(
            now,
            "session_expired",
            t,
            "etcd lease gone while the process runs behind a network cut: watchers see the session deleted".into(),
        );
        if let Some(node) = ctx.world.node_of_task(t) {
            let qc = ctx.world.querycoord;
            ctx.send(
                qc,
                Msg::NodeSessionGone {
                    node: node as u16,
                    gen,
                },
                SimDuration::ZERO,
            );
        }
        // reference §2.1 item 5: KeepAliveOnce is retried 3 x with a 10 s timeout,
        // then the process stops itself (each retry fails: the lease is gone).
        let me = ctx.me();
        ctx.send(
            me,
            Msg::SessionLostExit {
                task: t as u32,
                gen,
            },
            SimDuration::from_secs(30),
        );
    }

    pub fn on_session_lost_exit(&mut self, t: usize, gen: u8, ctx: &mut Ctx<'_, Msg, World>) {
        if !ctx.world.alive(t, gen) || !ctx.world.session_lost[t] {
            return;
        }
        let now = ctx.now();
        ctx.world.task_event(
            now,
            "liveness_exit",
            t,
            "etcd keep-alive failed (lease + 3 x 10 s retries): the process stops itself".into(),
        );
        self.stop_task(t, false, ctx);
        self.restart_later(t, ctx);
    }
}
