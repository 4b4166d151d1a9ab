//! The application's DDL calls (`[workload.ddl]`): create_collection(), create_index(),
//! load(), release(), load() again and drop_collection(), what each has done so far,
//! and how long each takes on its way through the control plane.
//!
//! A call is not instantaneous: it crosses the proxy, gets a timestamp from
//! rootcoord, is handled by the coordinator that owns it and writes its metadata to
//! etcd before it takes effect; release() also waits until the query nodes have let
//! the collection go. The time of each step comes from the network between the
//! hosts and the etcd members' disks, as [`path`] says step by step. Not modelled:
//! the coordinators' CPU for the call, and a call's own retries.

use crate::engine::{Ctx, SimDuration, SimTime};
use crate::scenario::experiment::DdlSpec;
use crate::scenario::topology::ServiceKind;

use super::msg::Msg;
use super::world::World;

/// reference §1.7 distPullInterval: querycoord sees what a query node holds through
/// its distribution pull every 500 ms; release() returns once the pulls show the
/// collection gone from every node.
pub const DIST_PULL_INTERVAL: SimDuration = SimDuration::from_millis(500);

/// The application's DDL calls as they play; create_index() and load() happened
/// before the run unless the experiment defers them.
#[derive(Default)]
pub struct Ddl {
    pub spec: DdlSpec,
    /// Replicas load() asks for.
    pub replicas: usize,
    /// When the application called create_index(), when datacoord recorded the
    /// index, and when the call returned.
    pub create_index_called: Option<SimTime>,
    pub index_created: Option<SimTime>,
    pub create_index_returned: Option<SimTime>,
    /// When the application called load(), when querycoord recorded the load (the
    /// checkers start placing), when the call's RPC returned, and when every
    /// replica served every shard and every segment of the target.
    pub load_called: Option<SimTime>,
    pub load_started: Option<SimTime>,
    pub load_returned: Option<SimTime>,
    pub loaded: Option<SimTime>,
    /// Why load() failed, if it did.
    pub load_error: Option<String>,
    /// release(): called, in force (querycoord dropped the collection's replicas;
    /// searches fail), returned (every node let go).
    pub release_called: Option<SimTime>,
    pub release_applied: Option<SimTime>,
    pub released: Option<SimTime>,
    /// load() again: called, recorded, returned, served.
    pub reload_called: Option<SimTime>,
    pub reload_started: Option<SimTime>,
    pub reload_returned: Option<SimTime>,
    pub reloaded: Option<SimTime>,
    /// Why release() failed, or went unanswered, if it did.
    pub release_error: Option<String>,
    /// Why load() again failed, if it did.
    pub reload_error: Option<String>,
    /// create_collection(): called; in force (rootcoord wrote the collection's
    /// state "created": requests find it); returned; why it failed, if it did.
    pub create_called: Option<SimTime>,
    pub created: Option<SimTime>,
    pub create_returned: Option<SimTime>,
    pub create_error: Option<String>,
    /// drop_collection(): called; in force (rootcoord wrote the state "dropping":
    /// every request fails, collection not found); returned; querycoord released
    /// the collection; datacoord dropped the index; datacoord marked the segments
    /// dropped (their files become garbage); garbage collection removed the last of
    /// those files; rootcoord removed the collection's meta.
    pub drop_called: Option<SimTime>,
    pub drop_applied: Option<SimTime>,
    pub drop_returned: Option<SimTime>,
    pub drop_released: Option<SimTime>,
    pub drop_index_dropped: Option<SimTime>,
    pub drop_segments_dropped: Option<SimTime>,
    pub drop_storage_freed: Option<SimTime>,
    pub drop_meta_removed: Option<SimTime>,
    /// Bytes of the collection's files the drop made garbage.
    pub drop_bytes: u64,
    /// Why drop_collection() failed, if it did.
    pub drop_error: Option<String>,
    /// A load() (first or again) has not yet placed the channels or segment copies
    /// that keep some shard from being served in every replica (querycoord sets it
    /// with each view it publishes).
    pub placing: bool,
}

impl Ddl {
    pub fn index_exists(&self) -> bool {
        (self.spec.indexed_at_start() || self.index_created.is_some())
            && self.drop_index_dropped.is_none()
    }

    /// Whether the collection is loaded (or loading) as querycoord's meta has it:
    /// what the proxy checks before a search.
    pub fn collection_loaded(&self) -> bool {
        let first = self.spec.loaded_at_start() || self.load_started.is_some();
        first
            && (self.release_applied.is_none() || self.reload_started.is_some())
            && self.collection_exists()
    }

    /// Whether drop_collection() has taken effect: the proxies find no collection.
    pub fn collection_dropped(&self) -> bool {
        self.drop_applied.is_some()
    }

    /// Whether the proxies find the collection: it existed before the run or
    /// create_collection() has taken effect, and it is not dropped.
    pub fn collection_exists(&self) -> bool {
        (self.spec.create.is_none() || self.created.is_some()) && !self.collection_dropped()
    }

    /// Whether the application's own calls keep the collection from being served
    /// now: not loaded (released, or a deferred load() not called yet), or a load()
    /// still placing what some shard needs. A search failing meanwhile would fail
    /// without any fault, so a fault's figures leave it out (summary.json `faults`);
    /// a fault that slows the load down shows in the load's own times instead.
    pub fn unserved_by_application(&self) -> bool {
        if !self.collection_exists() {
            return self.missing_by_application();
        }
        !self.collection_loaded() || self.placing
    }

    /// Whether the collection is missing by the application's doing: not created
    /// yet, or dropped. When a fault made create_collection() fail, what fails for
    /// want of the collection is the fault's.
    pub fn missing_by_application(&self) -> bool {
        let create_failed = self.create_error.is_some() && self.created.is_none();
        !self.collection_exists() && !create_failed
    }

    /// The `ddl` section of summary.json, when the experiment defers a call or
    /// releases the collection.
    pub fn summary(&self) -> Option<serde_json::Value> {
        let deferred = !self.spec.indexed_at_start() || !self.spec.loaded_at_start();
        let created = self.spec.create.is_some();
        if !deferred && self.spec.release.is_none() && self.spec.drop.is_none() && !created {
            return None;
        }
        let secs = |t: Option<SimTime>| t.map(|t| t.as_secs_f64());
        let ms = |a: Option<SimTime>, b: Option<SimTime>| match (a, b) {
            (Some(a), Some(b)) => Some(b.since(a).as_secs_f64() * 1e3),
            _ => None,
        };
        let mut out = serde_json::json!({
            "create_index_s": secs(self.index_created),
            "load_started_s": secs(self.load_started),
            "loaded_s": secs(self.loaded),
            "error": self.load_error,
        });
        let o = out.as_object_mut().expect("an object");
        if deferred {
            o.insert(
                "create_index_called_s".into(),
                secs(self.create_index_called).into(),
            );
            o.insert(
                "create_index_ms".into(),
                ms(self.create_index_called, self.create_index_returned).into(),
            );
            o.insert("load_called_s".into(), secs(self.load_called).into());
            o.insert(
                "load_ms".into(),
                ms(self.load_called, self.load_returned).into(),
            );
        }
        if self.spec.release.is_some() {
            let window = match (self.release_applied, self.reloaded) {
                (Some(a), Some(b)) => Some(b.since(a).as_secs_f64()),
                _ => None,
            };
            for (key, v) in [
                ("release_s", secs(self.release_called)),
                ("released_s", secs(self.released)),
                ("release_ms", ms(self.release_called, self.released)),
                ("reload_s", secs(self.reload_called)),
                ("reload_started_s", secs(self.reload_started)),
                ("reload_ms", ms(self.reload_called, self.reload_returned)),
                ("reloaded_s", secs(self.reloaded)),
                ("unloaded_s", window),
            ] {
                o.insert(key.into(), v.into());
            }
            o.insert("release_error".into(), self.release_error.clone().into());
            o.insert("reload_error".into(), self.reload_error.clone().into());
        }
        if created {
            for (key, v) in [
                ("create_s", secs(self.create_called)),
                ("create_ms", ms(self.create_called, self.create_returned)),
                ("created_s", secs(self.created)),
            ] {
                o.insert(key.into(), v.into());
            }
            o.insert("create_error".into(), self.create_error.clone().into());
        }
        if self.spec.drop.is_some() {
            for (key, v) in [
                ("drop_s", secs(self.drop_called)),
                ("drop_ms", ms(self.drop_called, self.drop_returned)),
                ("dropped_s", secs(self.drop_applied)),
                ("drop_released_s", secs(self.drop_released)),
                ("drop_index_dropped_s", secs(self.drop_index_dropped)),
                ("drop_segments_dropped_s", secs(self.drop_segments_dropped)),
                ("storage_freed_s", secs(self.drop_storage_freed)),
                ("meta_removed_s", secs(self.drop_meta_removed)),
            ] {
                o.insert(key.into(), v.into());
            }
            o.insert("drop_bytes".into(), self.drop_bytes.into());
            o.insert("drop_error".into(), self.drop_error.clone().into());
        }
        Some(out)
    }
}

/// A DDL call, or a step of one, that its coordinator's incarnation did not live to
/// take: the application's RPC fails (the proxy's call to the coordinator breaks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lost {
    /// create_index() before datacoord recorded the index.
    CreateIndex,
    /// The first load() before querycoord recorded it.
    Load,
    /// release() before it took effect.
    Release,
    /// release() took effect, but its answer never came.
    ReleaseAnswer,
    /// load() again before querycoord recorded it.
    Reload,
}

/// Records a lost call. A create_index() or first load() that the experiment
/// defers is called again at the coordinator's next tick, as the application
/// retries it (their `*_called` are cleared); a failed release() leaves the
/// collection loaded; a release() whose answer was lost has taken effect (a load()
/// again waiting for it goes out then).
pub fn lost(w: &mut World, now: SimTime, what: Lost) {
    let (kind, event, detail) = match what {
        Lost::CreateIndex => {
            w.ddl.create_index_called = None;
            w.ddl.create_index_returned = None;
            (
                ServiceKind::Datacoord,
                "create_index_failed",
                "create_index() failed: datacoord went down before it recorded the index; called again at its next tick".to_string(),
            )
        }
        Lost::Load => {
            w.ddl.load_called = None;
            w.ddl.load_returned = None;
            (
                ServiceKind::Querycoord,
                "load_failed",
                "load() failed: querycoord went down before it recorded the load; called again at its next tick".to_string(),
            )
        }
        Lost::Release if w.ddl.release_error.is_some() => return,
        Lost::ReleaseAnswer
            if w.ddl.release_applied.is_none()
                || w.ddl.release_error.is_some()
                || w.ddl.released.is_some() =>
        {
            return
        }
        Lost::Release => {
            let d = "release() failed: querycoord unavailable; the collection stays loaded";
            w.ddl.release_error = Some(d.to_string());
            (ServiceKind::Querycoord, "release_failed", d.to_string())
        }
        Lost::ReleaseAnswer => {
            let d = "release() got no answer: querycoord went down after the release took effect";
            w.ddl.release_error = Some(d.to_string());
            (ServiceKind::Querycoord, "release_failed", d.to_string())
        }
        Lost::Reload => {
            let d = "load() again failed: querycoord unavailable; the collection stays released";
            w.ddl.reload_error = Some(d.to_string());
            (ServiceKind::Querycoord, "load_failed", d.to_string())
        }
    };
    let task = (0..w.tasks.len())
        .find(|&t| w.tasks[t].kind == kind)
        .expect("a coordinator's message had a coordinator task");
    w.task_event(now, event, task, detail);
}

/// What a load() again does when the application calls it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadStep {
    /// Nothing to load again: release() failed before it took effect, or load()
    /// again already failed.
    Skip,
    /// release() has not returned: the application calls one after the other.
    Wait,
    Go,
}

pub fn reload_step(d: &Ddl) -> ReloadStep {
    use crate::scenario::experiment::ReloadWhen;
    let sent = d.reload_returned.is_some() || d.reload_started.is_some();
    let release_failed = d.release_applied.is_none() && d.release_error.is_some();
    if d.reload_error.is_some() || sent || release_failed {
        return ReloadStep::Skip;
    }
    let answered = d.released.is_some() || d.release_error.is_some();
    if !answered {
        return ReloadStep::Wait;
    }
    // Called (at its time, or waiting for the answer) or due at the answer.
    if d.reload_called.is_some() || d.spec.reload == Some(ReloadWhen::AfterRelease) {
        ReloadStep::Go
    } else {
        ReloadStep::Wait
    }
}

/// Which DDL call crosses the control plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    CreateIndex,
    Load,
    Release,
}

/// How long a call takes from the application's call: until it takes effect (the
/// coordinator has written its metadata), and until the application has the answer;
/// `back` is the answer's way from the coordinator to the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Path {
    pub applied: SimDuration,
    pub returned: SimDuration,
    pub back: SimDuration,
}

/// The first task of `kind` that runs now.
pub fn running(w: &World, kind: ServiceKind) -> Option<usize> {
    (0..w.tasks.len()).find(|&t| w.tasks[t].kind == kind && w.tasks[t].up && w.tasks[t].in_service)
}

/// One-way network latency between two endpoints, if nothing cuts them apart.
fn one_way(w: &World, a: usize, b: usize) -> Option<SimDuration> {
    w.net.reachable(a, b).then(|| w.net.latency(a, b)).flatten()
}

/// The path of `call` from the application through the control plane, step by step;
/// an error names the step that cannot be taken now (the call fails).
pub fn path(w: &World, call: Call) -> Result<Path, String> {
    let ep = |t: usize| w.task_endpoint(t);
    let rtt = |a: usize, b: usize, what: &str| {
        one_way(w, ep(a), ep(b))
            .map(|d| d + d)
            .ok_or_else(|| format!("{what} unreachable"))
    };
    let coordinator = match call {
        Call::CreateIndex => ServiceKind::Datacoord,
        Call::Load | Call::Release => ServiceKind::Querycoord,
    };
    let proxy = running(w, ServiceKind::Proxy).ok_or("no proxy running")?;
    let coord =
        running(w, coordinator).ok_or_else(|| format!("{} unavailable", coordinator.name()))?;
    let rootcoord = running(w, ServiceKind::Rootcoord).ok_or("rootcoord unavailable")?;
    // reference §3.1 step 1 / §3.3 step 1: the application's call reaches a proxy.
    let to_proxy = one_way(w, w.client_endpoint, ep(proxy)).ok_or("the proxy is unreachable")?;
    // reference §1.1: every proxy task, DDL included, gets a timestamp from rootcoord.
    let tso = rtt(proxy, rootcoord, "rootcoord")?;
    // reference §1.4 (DDL queue) and §1.9 (index coordination lives in datacoord):
    // the proxy calls the coordinator that owns the call.
    let there = one_way(w, ep(proxy), ep(coord))
        .ok_or_else(|| format!("{} unreachable", coordinator.name()))?;
    // reference §1.7 brokerTimeout: querycoord asks rootcoord (the collection's
    // schema) and datacoord (the segments and channel checkpoints) before a load.
    let mut broker = SimDuration::ZERO;
    if call == Call::Load {
        broker = broker + rtt(coord, rootcoord, "rootcoord")?;
        if let Some(dc) = running(w, ServiceKind::Datacoord) {
            broker = broker + rtt(coord, dc, "datacoord")?;
        }
    }
    let write = etcd_write(w, coord)?;
    let writes = SimDuration::from_nanos(write.as_nanos() * w.failover.ddl_etcd_writes as u64);
    let applied = to_proxy + tso + there + broker + writes;
    // release(): every query node querycoord reaches is told to let go, and it waits
    // until its distribution pull shows the collection gone; one it cannot reach holds
    // the answer back (querycoord.rs on_release_applied), but not the call.
    let mut wait = SimDuration::ZERO;
    if call == Call::Release {
        wait = release_wait(w, coord);
    }
    // The answer goes back the way the call came.
    let back = there + to_proxy;
    Ok(Path {
        applied,
        returned: applied + wait + back,
        back,
    })
}

/// How long querycoord (task `coord`) waits, from a release in force, until its
/// distribution pulls show every query node it reaches empty.
pub fn release_wait(w: &World, coord: usize) -> SimDuration {
    w.query_node_tasks
        .iter()
        .filter(|&&n| w.tasks[n].up)
        .filter_map(|&n| release_seen(w, coord, n))
        .max()
        .unwrap_or(DIST_PULL_INTERVAL)
}

/// GUESS: a background step of drop_collection() whose coordinator is down or cut
/// off is tried again after this long (rootcoord's step executor retries a failed
/// step until it succeeds).
pub const DROP_STEP_RETRY: SimDuration = SimDuration::from_secs(1);

/// drop_collection()'s path until it takes effect and until the application has
/// the answer. Milvus 2.3 rootcoord dropCollectionTask (not in the reference; its
/// steps as we read the 2.3 source, `rootcoord/drop_collection_task.go`): the
/// proxy's DDL task takes a timestamp (reference §1.1) and calls rootcoord, whose
/// task runs two steps the call waits for -- expire the collection in every
/// proxy's meta cache (a round trip to each proxy; one that cannot be reached
/// fails the step and the call), then write the collection's state "dropping" to
/// etcd -- and returns. From then on the proxies find no collection. The rest
/// (release, drop the index, mark the channels, confirm GC, remove the meta) runs in
/// the background after the answer (GUESS: as the task's asynchronous steps, in
/// that order, each after the one before).
pub fn drop_path(w: &World) -> Result<Path, String> {
    let call = rootcoord_call(w)?;
    let write = etcd_write(w, call.rootcoord)?;
    let applied = call.reach + write;
    Ok(Path {
        applied,
        returned: applied + call.back,
        back: call.back,
    })
}

/// The part of a collection DDL call up to rootcoord's first own etcd write: the
/// application's call reaches a proxy, whose DDL task takes a timestamp (reference
/// §1.1) and calls rootcoord, which expires the collection in every running proxy's
/// meta cache (a round trip to each; one it cannot reach fails the call).
struct RootcoordCall {
    rootcoord: usize,
    /// From the call to the meta caches expired.
    reach: SimDuration,
    /// The answer's way back from rootcoord to the application.
    back: SimDuration,
}

fn rootcoord_call(w: &World) -> Result<RootcoordCall, String> {
    let ep = |t: usize| w.task_endpoint(t);
    let rtt = |a: usize, b: usize, what: &str| {
        one_way(w, ep(a), ep(b))
            .map(|d| d + d)
            .ok_or_else(|| format!("{what} unreachable"))
    };
    let proxy = running(w, ServiceKind::Proxy).ok_or("no proxy running")?;
    let rootcoord = running(w, ServiceKind::Rootcoord).ok_or("rootcoord unavailable")?;
    let to_proxy = one_way(w, w.client_endpoint, ep(proxy)).ok_or("the proxy is unreachable")?;
    let tso = rtt(proxy, rootcoord, "rootcoord")?;
    let there = one_way(w, ep(proxy), ep(rootcoord)).ok_or("rootcoord unreachable")?;
    let mut expire = SimDuration::ZERO;
    for p in (0..w.tasks.len()).filter(|&t| {
        w.tasks[t].kind == ServiceKind::Proxy && w.tasks[t].up && w.tasks[t].in_service
    }) {
        expire = expire.max(rtt(rootcoord, p, "a proxy (its meta cache expiry)")?);
    }
    Ok(RootcoordCall {
        rootcoord,
        reach: to_proxy + tso + there + expire,
        back: there + to_proxy,
    })
}

/// create_collection()'s path: until it takes effect, until the application has the
/// answer, and (`watch`) until datacoord's watch of the new channels is in etcd. Milvus
/// 2.3 rootcoord createCollectionTask (not in the reference; its steps as we read the
/// 2.3 source, `rootcoord/create_collection_task.go`), all of them before the answer:
/// the proxy's DDL task takes a timestamp (reference §1.1) and calls rootcoord, which
/// allocates the collection ID (GUESS: from its ID allocator's cached range, no
/// round trip), assigns each shard to the least-used of the 16 physical DML channels
/// (reference §1.3 rootCoord.dmlChannelNum, vchannel naming), expires the name in
/// every proxy's meta cache (a round trip to each running proxy), writes the
/// collection's meta to etcd (state "creating"), asks datacoord to watch the new
/// vchannels (datacoord writes the watch to etcd; the data nodes subscribe once they
/// see it, GUESS: the RPC does not wait for them), and writes the state "created".
pub fn create_path(w: &World) -> Result<(Path, SimDuration), String> {
    let ep = |t: usize| w.task_endpoint(t);
    let call = rootcoord_call(w)?;
    let rootcoord = call.rootcoord;
    let datacoord = running(w, ServiceKind::Datacoord).ok_or("datacoord unavailable")?;
    let meta = etcd_write(w, rootcoord)?;
    let to_dc = one_way(w, ep(rootcoord), ep(datacoord)).ok_or("datacoord unreachable")?;
    let watch_write = etcd_write(w, datacoord)?;
    let before_watch = call.reach + meta + to_dc + watch_write;
    let state = etcd_write(w, rootcoord)?;
    let applied = before_watch + to_dc + state;
    Ok((
        Path {
            applied,
            returned: applied + call.back,
            back: call.back,
        },
        before_watch,
    ))
}

/// The time a background step of drop_collection() takes from task `from` to the
/// coordinator of `kind` and that coordinator's etcd write (with `write`); a step
/// that cannot be taken now is tried again after [`DROP_STEP_RETRY`].
pub fn drop_step(w: &World, from: usize, kind: ServiceKind, write: bool) -> SimDuration {
    let Some(to) = running(w, kind) else {
        return DROP_STEP_RETRY;
    };
    let hop = one_way(w, w.task_endpoint(from), w.task_endpoint(to));
    let meta = if write {
        etcd_write(w, to).ok()
    } else {
        Some(SimDuration::ZERO)
    };
    match (hop, meta) {
        (Some(h), Some(m)) => h + m,
        _ => DROP_STEP_RETRY,
    }
}

/// Whether a background step of drop_collection() delivered to `me` (task `t`) can be
/// taken now: its coordinator writes metadata to etcd. If not, the step is sent to
/// itself again after [`DROP_STEP_RETRY`] and `false` returned.
pub fn drop_step_ready(ctx: &mut Ctx<'_, Msg, World>, t: usize, step: Msg) -> bool {
    if etcd_write(ctx.world, t).is_ok() {
        return true;
    }
    if ctx.now() < ctx.world.end {
        let me = ctx.me();
        ctx.send(me, step, DROP_STEP_RETRY);
    }
    false
}

/// The event of a DDL call's answer reaching the application at `now`: `call`
/// returned, this long after the application called it at `called`.
pub fn answered(
    w: &mut World,
    now: SimTime,
    called: Option<SimTime>,
    call: &str,
    (kind, task): (&'static str, usize),
) {
    let since = called.unwrap_or(now);
    let detail = format!(
        "{call} returned after {:.1} ms",
        now.since(since).as_secs_f64() * 1e3
    );
    w.task_event(now, kind, task, detail);
}

/// One-way latency from task `a` to task `b`, [`DROP_STEP_RETRY`] while a cut
/// separates them.
pub fn drop_hop(w: &World, a: usize, b: usize) -> SimDuration {
    one_way(w, w.task_endpoint(a), w.task_endpoint(b)).unwrap_or(DROP_STEP_RETRY)
}

/// One metadata write of task `t` to etcd ([`DROP_STEP_RETRY`] while none can
/// commit).
pub fn drop_write(w: &World, t: usize) -> SimDuration {
    etcd_write(w, t).unwrap_or(DROP_STEP_RETRY)
}

/// How long after querycoord (task `coord`) tells query node `node` to let go of the
/// released collection its distribution shows the node empty: the call's round trip,
/// then the next pull (reference §1.7 distPullInterval). None while a cut separates
/// them.
pub fn release_seen(w: &World, coord: usize, node: usize) -> Option<SimDuration> {
    let d = one_way(w, w.task_endpoint(coord), w.task_endpoint(node))?;
    Some(d + d + DIST_PULL_INTERVAL)
}

/// One metadata write of `coord` to etcd: through the etcd gRPC proxy (reference
/// §1.10) to the leader, which commits once a majority of the members has the entry
/// on disk (Raft: its own fsync beside the nearest follower's round trip and fsync;
/// reference §2.7 on the quorum). Without etcd members in the topology, no cost.
fn etcd_write(w: &World, coord: usize) -> Result<SimDuration, String> {
    if w.etcd_tasks.is_empty() {
        return Ok(SimDuration::ZERO);
    }
    if !w.etcd_writable() {
        return Err("etcd has no quorum or no leader".into());
    }
    let leader = w.etcd_leader.ok_or("etcd has no leader")?;
    let ep = |t: usize| w.task_endpoint(t);
    let to_leader = match running(w, ServiceKind::EtcdProxy) {
        Some(p) => {
            let a = one_way(w, ep(coord), ep(p)).ok_or("the etcd proxy is unreachable")?;
            let b = one_way(w, ep(p), ep(leader)).ok_or("the etcd leader is unreachable")?;
            a + b
        }
        None => one_way(w, ep(coord), ep(leader)).ok_or("the etcd leader is unreachable")?,
    };
    // A slow_disk fault on a member's host slows its fsync as much as its reads.
    let fsync = |t: usize| {
        let h = &w.hosts[w.tasks[t].host];
        let ns = h.spec.disk.fsync_latency.as_nanos();
        if h.fsync_slowdown == 1.0 {
            h.spec.disk.fsync_latency
        } else {
            SimDuration::from_nanos((ns as f64 * h.fsync_slowdown).round() as u64)
        }
    };
    // A majority of three is the leader and one follower: the nearest one that runs.
    let followers = w
        .etcd_tasks
        .iter()
        .filter(|&&m| m != leader && w.tasks[m].up)
        .filter_map(|&m| one_way(w, ep(leader), ep(m)).map(|d| d + d + fsync(m)));
    let needed = w.etcd_tasks.len() / 2;
    let mut replies: Vec<SimDuration> = followers.collect();
    replies.sort_unstable();
    let quorum = match needed {
        0 => SimDuration::ZERO,
        k => *replies.get(k - 1).ok_or("etcd has no quorum")?,
    };
    Ok(to_leader + to_leader + fsync(leader).max(quorum))
}
