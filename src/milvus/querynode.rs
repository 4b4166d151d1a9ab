//! Query node: shard delegator and search worker (reference §3.1 steps 4-5), and the
//! segment loader that failover and balancing use (reference §2.2).

use std::collections::{BTreeMap, VecDeque};

use crate::engine::{ActorId, Ctx, SimDuration, SimTime};
use crate::hw::cost::REDUCE_NS_PER_RESULT;

use super::msg::{Fail, Msg, Req, Ts};
use super::overheads::{
    search_beside_on, search_stage_on, CONTROL_RPC_BYTES, DELEGATOR_SHARE, WORKER_SHARE,
};
use super::retrieve::ReqKind;
use super::world::{run_cpu, send_net, send_net_from, send_to, Endpoint, World};

/// GUESS: testing one key against one segment's bloom filter (a hash, then a few
/// probes of a filter that fits in cache; Milvus sizes them for 100k keys at a 0.5 %
/// false-positive rate, about 8 probes).
const BLOOM_CHECK_NS: f64 = 40.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct WorkerJob {
    req: Req,
    shard: u8,
    replica: u8,
    delegator: ActorId,
    dgen: u8,
}

#[derive(Clone, Copy, Debug)]
struct Parked {
    req: Req,
    shard: u8,
    replica: u8,
    guarantee: Ts,
}

pub struct QueryNode {
    pub task: usize,
    /// Index among the query nodes (the layout's numbering).
    pub node: usize,
    /// Serviceable time of the channels this node leads.
    tsafe: [Ts; super::world::MAX_SHARDS],
    /// Searches waiting for tsafe to reach their guarantee timestamp.
    parked: VecDeque<Parked>,
    /// reference §1.8: concurrent read tasks = cores x maxReadConcurrentRatio.
    max_running: u32,
    /// reference §1.8: scheduleReadPolicy.maxPendingTask.
    max_pending: usize,
    /// Sub-searches running (at most `max_running`, so a short vector).
    running: Vec<WorkerJob>,
    queue: VecDeque<WorkerJob>,
    /// Segments held, per (replica, segment id index): bytes.
    loaded: BTreeMap<(u8, u32), u64>,
    /// Downloads in flight, per (replica, segment): when they started and the
    /// endpoints of the MinIO hosts sending parts.
    downloads: BTreeMap<(u8, u32), (SimTime, Vec<usize>)>,
    /// Loads in flight: whether each brings the index (else raw binlogs only).
    load_indexed: BTreeMap<(u8, u32), bool>,
}

impl QueryNode {
    pub fn new(task: usize, node: usize, max_running: u32, max_pending: usize) -> Self {
        QueryNode {
            task,
            node,
            tsafe: [0; super::world::MAX_SHARDS],
            parked: VecDeque::new(),
            max_running: max_running.max(1),
            max_pending,
            running: Vec::new(),
            queue: VecDeque::new(),
            loaded: BTreeMap::new(),
            downloads: BTreeMap::new(),
            load_indexed: BTreeMap::new(),
        }
    }

    /// The segments the initial load put here.
    pub fn preload(&mut self, replica: u8, segment: u32, bytes: u64) {
        self.loaded.insert((replica, segment), bytes);
    }

    fn gen(&self, ctx: &Ctx<'_, Msg, World>) -> u8 {
        ctx.world.tasks[self.task].gen
    }

    fn note_queue(&self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let u = ctx.world.tasks[self.task].usage;
        ctx.world.usage[u].note_queue(now, self.queue.len() + self.parked.len());
    }

    /// reference §3.1 step 4a: waitTSafe blocks until tsafe >= guarantee.
    pub fn on_delegator_search(
        &mut self,
        req: Req,
        shard: u8,
        replica: u8,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        // A node that no longer leads the shard answers that it is not available
        // (the proxy's cache was stale).
        if ctx.world.dist.leader[replica as usize][shard as usize] != Some(self.node) {
            self.answer_proxy(req, shard, Some(Fail::NotLeader), ctx);
            return;
        }
        let s = &mut ctx.world.searches[req as usize];
        s.at_delegator |= 1 << shard;
        s.delegator[shard as usize] = self.node as u8;
        s.shard_error[shard as usize] = None;
        let guarantee = ctx.world.searches[req as usize].guarantee;
        if self.tsafe[shard as usize] >= guarantee {
            self.fan_out(req, shard, replica, ctx);
        } else {
            self.parked.push_back(Parked {
                req,
                shard,
                replica,
                guarantee,
            });
            self.note_queue(ctx);
        }
    }

    /// This node no longer leads some shard it led: requests parked there for tsafe
    /// fail as from a stale leader (the proxy asks querycoord again), instead of
    /// waiting for ticks that now go to another delegator or to none.
    pub fn on_delegator_released(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let mut i = 0;
        while i < self.parked.len() {
            let p = &self.parked[i];
            if ctx.world.dist.leader[p.replica as usize][p.shard as usize] != Some(self.node) {
                let p = self.parked.remove(i).expect("in range");
                self.answer_proxy(p.req, p.shard, Some(Fail::NotLeader), ctx);
            } else {
                i += 1;
            }
        }
        self.note_queue(ctx);
    }

    /// reference §3.2: tsafe of each channel advances with the ticks it carries.
    pub fn on_time_tick(&mut self, ts: Ts, shard: u8, ctx: &mut Ctx<'_, Msg, World>) {
        let t = &mut self.tsafe[shard as usize];
        *t = (*t).max(ts);
        let tsafe = *t;
        // Guarantees are non-decreasing in arrival order for Strong and Bounded, but not
        // across consistency levels, so scan the whole queue.
        let mut i = 0;
        while i < self.parked.len() {
            let p = &self.parked[i];
            if p.shard == shard && p.guarantee <= tsafe {
                let p = self.parked.remove(i).expect("in range");
                self.fan_out(p.req, p.shard, p.replica, ctx);
            } else {
                i += 1;
            }
        }
    }

    /// reference §3.1 step 4b-c: one sub-request per worker holding sealed segments.
    fn fan_out(&mut self, req: Req, shard: u8, replica: u8, ctx: &mut Ctx<'_, Msg, World>) {
        // reference §2.2: a shard whose leader view lacks a segment cannot answer.
        if ctx.world.dist.lacking[replica as usize][shard as usize] > 0 {
            self.answer_proxy(req, shard, Some(Fail::SegmentLacks), ctx);
            return;
        }
        let mut workers: Vec<usize> = ctx
            .world
            .workers_of(replica as usize, shard as usize)
            .to_vec();
        // reference §3.1 step 4: the delegator searches its growing segments itself.
        if ctx.world.ingest.growing(replica as usize, shard as usize) > 0
            && !workers.contains(&self.node)
        {
            workers.push(self.node);
        }
        ctx.world.searches[req as usize].workers_pending[shard as usize] = workers.len() as u16;
        if workers.is_empty() {
            self.reduce(req, shard, 0, ctx);
            return;
        }
        let me = ctx.me();
        let dgen = self.gen(ctx);
        let bytes = ctx.world.request_bytes(req);
        for w in workers {
            let task = ctx.world.query_node_tasks[w];
            let msg = Msg::WorkerSearchArrived {
                req,
                shard,
                replica,
                delegator: me,
                dgen,
                gen: ctx.world.tasks[task].gen,
            };
            if w == self.node {
                // The local worker is called in-process.
                ctx.send(me, msg, SimDuration::ZERO);
            } else {
                let actor = ctx.world.query_node_actors[w];
                send_net(
                    ctx,
                    Endpoint::Task(self.task),
                    Endpoint::Task(task),
                    bytes,
                    actor,
                    msg,
                );
            }
        }
    }

    /// reference §3.1 step 5: FIFO scheduler with a bounded number of running tasks.
    pub fn on_worker_search(
        &mut self,
        req: Req,
        shard: u8,
        replica: u8,
        delegator: ActorId,
        dgen: u8,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let job = WorkerJob {
            req,
            shard,
            replica,
            delegator,
            dgen,
        };
        if (self.running.len() as u32) < self.max_running {
            self.start(job, ctx);
        } else if self.queue.len() < self.max_pending {
            self.queue.push_back(job);
            self.note_queue(ctx);
        } else {
            self.reply_to_delegator(job, Some(Fail::ReadQueueFull), SimTime::ZERO, ctx);
        }
    }

    fn start(&mut self, job: WorkerJob, ctx: &mut Ctx<'_, Msg, World>) {
        self.running.push(job);
        let cost = ctx
            .world
            .sub_cost(job.replica as usize, job.shard as usize, self.node);
        let (r, s) = (job.replica as usize, job.shard as usize);
        let kind = ctx.world.req_kind(job.req);
        let leads = ctx.world.dist.leader[r][s] == Some(self.node);
        let growing = match kind {
            _ if !leads => 0.0,
            ReqKind::Search => ctx.world.growing_search_ns(self.node, r, s),
            ReqKind::Query => ctx.world.growing_query_ns(r, s),
            ReqKind::DeleteQuery => ctx.world.growing_filter_ns(self.node, r, s),
        };
        let demand = match kind {
            ReqKind::Search => cost.demand_core_ns,
            ReqKind::Query => cost.query_core_ns,
            ReqKind::DeleteQuery => {
                let growing_rows = if leads {
                    ctx.world.ingest.growing(r, s)
                } else {
                    0
                };
                ctx.world.ingest.deletes.rows_scanned += cost.rows + growing_rows;
                cost.filter_core_ns
            }
        };
        let base = search_stage_on(ctx.world, self.task, WORKER_SHARE, job.req);
        let me = ctx.me();
        let beside = search_beside_on(ctx.world, self.task, WORKER_SHARE, job.req);
        run_cpu(ctx, self.task, beside, 1, me, Msg::BesideDone);
        let gen = self.gen(ctx);
        run_cpu(
            ctx,
            self.task,
            base + demand + growing,
            cost.threads.max(1),
            me,
            Msg::WorkerSearched {
                req: job.req,
                shard: job.shard,
                replica: job.replica,
                delegator: job.delegator,
                dgen: job.dgen,
                gen,
            },
        );
    }

    pub fn on_worker_searched(
        &mut self,
        req: Req,
        shard: u8,
        replica: u8,
        delegator: ActorId,
        dgen: u8,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let job = WorkerJob {
            req,
            shard,
            replica,
            delegator,
            dgen,
        };
        if let Some(i) = self.running.iter().position(|j| *j == job) {
            self.running.swap_remove(i);
        }
        if let Some(next) = self.queue.pop_front() {
            self.start(next, ctx);
            self.note_queue(ctx);
        }
        self.reply_to_delegator(job, None, SimTime::ZERO, ctx);
    }

    /// Answers a sub-request; `not_before` delays the reply (a failed call).
    fn reply_to_delegator(
        &mut self,
        job: WorkerJob,
        error: Option<Fail>,
        not_before: SimTime,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let msg = Msg::WorkerReplied {
            req: job.req,
            shard: job.shard,
            error,
            gen: job.dgen,
        };
        if job.delegator == ctx.me() {
            let at = not_before.max(ctx.now());
            ctx.send_at(job.delegator, msg, at);
        } else {
            // A worker's share of a query's keys: one of the shard's workers.
            let r = job.replica as usize;
            let workers = ctx.world.workers_of(r, job.shard as usize).len();
            let shards = ctx.world.params.shards as usize;
            let bytes = ctx.world.result_bytes(job.req, 1, shards * workers.max(1));
            let task = ctx.world.task_of(job.delegator);
            send_net_from(
                ctx,
                not_before,
                Endpoint::Task(self.task),
                Endpoint::Task(task),
                bytes,
                job.delegator,
                msg,
            );
        }
    }

    /// reference §3.1 step 4d and §2.2: any failed sub-task fails the shard.
    pub fn on_worker_replied(
        &mut self,
        req: Req,
        shard: u8,
        error: Option<Fail>,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let s = &mut ctx.world.searches[req as usize];
        if s.at_delegator & (1 << shard) == 0 {
            return;
        }
        if let Some(e) = error {
            s.shard_error[shard as usize].get_or_insert(e);
        }
        s.workers_pending[shard as usize] -= 1;
        if s.workers_pending[shard as usize] == 0 {
            let replica = s.replica_of_shard[shard as usize] as usize;
            let workers = ctx.world.workers_of(replica, shard as usize).len();
            self.reduce(req, shard, workers, ctx);
        }
    }

    /// reference §3.1 step 4e: the delegator merges the workers' results.
    fn reduce(&mut self, req: Req, shard: u8, workers: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let demand = search_stage_on(ctx.world, self.task, DELEGATOR_SHARE, req)
            + ctx.world.reduce_results(req) * workers as f64 * REDUCE_NS_PER_RESULT;
        let me = ctx.me();
        let beside = search_beside_on(ctx.world, self.task, DELEGATOR_SHARE, req);
        run_cpu(ctx, self.task, beside, 1, me, Msg::BesideDone);
        let gen = self.gen(ctx);
        run_cpu(
            ctx,
            self.task,
            demand,
            1,
            me,
            Msg::DelegatorReduced { req, shard, gen },
        );
    }

    pub fn on_delegator_reduced(&mut self, req: Req, shard: u8, ctx: &mut Ctx<'_, Msg, World>) {
        // A failed worker's error travels with the shard's answer.
        let error = ctx.world.searches[req as usize].shard_error[shard as usize];
        self.answer_proxy(req, shard, error, ctx);
    }

    fn answer_proxy(
        &mut self,
        req: Req,
        shard: u8,
        error: Option<Fail>,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let now = ctx.now();
        self.answer_proxy_at(req, shard, error, now, ctx);
    }

    fn answer_proxy_at(
        &mut self,
        req: Req,
        shard: u8,
        error: Option<Fail>,
        at: SimTime,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let s = &mut ctx.world.searches[req as usize];
        s.at_delegator &= !(1 << shard);
        let proxy = s.proxy;
        let bytes = ctx
            .world
            .result_bytes(req, 1, ctx.world.params.shards as usize);
        let to = ctx.world.task_of(proxy);
        send_net_from(
            ctx,
            at,
            Endpoint::Task(self.task),
            Endpoint::Task(to),
            bytes,
            proxy,
            Msg::ShardSearched { req, shard, error },
        );
    }

    /// The process dies. Callers see their calls fail after the RPC error delay
    /// (reference §2.2: searches routed to the node fail at once); everything it held
    /// in memory is gone.
    pub fn on_crash(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let fail_at = ctx.now() + ctx.world.rpc_error_after();
        // The shard searches this delegator holds (a rare scan of the request table).
        let me = self.node as u8;
        let mut leading = Vec::new();
        for (req, s) in ctx.world.searches.iter().enumerate() {
            let mut bits = s.at_delegator;
            while bits != 0 {
                let shard = bits.trailing_zeros() as u8;
                bits &= bits - 1;
                if s.delegator[shard as usize] == me {
                    leading.push((req as Req, shard));
                }
            }
        }
        for (req, shard) in leading {
            self.answer_proxy_at(req, shard, Some(Fail::NodeOffline), fail_at, ctx);
        }
        self.parked.clear();
        let jobs: Vec<WorkerJob> = std::mem::take(&mut self.running)
            .into_iter()
            .chain(std::mem::take(&mut self.queue))
            .collect();
        for job in jobs {
            if job.delegator != ctx.me() {
                self.reply_to_delegator(job, Some(Fail::NodeOffline), fail_at, ctx);
            }
        }
        // Its memory goes with the process (the dispatcher frees it).
        self.loaded.clear();
        self.downloads.clear();
        self.tsafe = [0; super::world::MAX_SHARDS];
    }

    /// reference §2.2: the loader downloads binlogs and index files from MinIO; every
    /// MinIO server sends its share of the object from its disks over its NIC.
    pub fn on_load_segment(&mut self, replica: u8, segment: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let gen = self.gen(ctx);
        // reference §3.3 step 8: a segment whose index is not built yet is loaded
        // from its raw binlogs.
        let (bytes, indexed) = ctx.world.load_bytes(segment as usize);
        self.load_indexed.insert((replica, segment), indexed);
        let Some((done, sources)) = super::minio::minio_read_via(ctx, self.task, bytes) else {
            // No object storage to read from: the load task fails.
            self.report_loaded(replica, segment, false, ctx);
            return;
        };
        self.downloads.insert((replica, segment), (now, sources));
        let me = ctx.me();
        ctx.send_at(
            me,
            Msg::SegmentDownloaded {
                replica,
                segment,
                gen,
            },
            done,
        );
    }

    pub fn on_segment_downloaded(
        &mut self,
        replica: u8,
        segment: u32,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        if self.downloads.remove(&(replica, segment)).is_none() {
            return; // it failed on the way
        }
        let bytes = self.load_size(replica, segment, ctx);
        // Raw binlogs: a FLAT collection has no index files (knowhere searches the
        // raw data), and a segment loaded before its index is built.
        let raw = ctx.world.index.kind == crate::hw::IndexKind::Flat
            || self.load_indexed.get(&(replica, segment)) == Some(&false);
        let demand = self.load_cpu_ns(bytes, raw, ctx);
        let me = ctx.me();
        let gen = self.gen(ctx);
        run_cpu(
            ctx,
            self.task,
            demand,
            1,
            me,
            Msg::SegmentDeserialized {
                replica,
                segment,
                gen,
            },
        );
    }

    /// reference §1.8 load memory guard: a load that would pass 90 % of the host's
    /// memory fails ("OOM if load").
    pub fn on_segment_deserialized(
        &mut self,
        replica: u8,
        segment: u32,
        guard: f64,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let now = ctx.now();
        let bytes = self.load_size(replica, segment, ctx);
        let indexed = self
            .load_indexed
            .remove(&(replica, segment))
            .unwrap_or(true);
        let t = &ctx.world.tasks[self.task];
        let (host, u) = (t.host, t.usage);
        let mem = &mut ctx.world.hosts[host].memory;
        let limit = (mem.capacity_bytes() as f64 * guard) as u64;
        let ok = mem.used_bytes() + bytes <= limit && mem.allocate(bytes).is_ok();
        if ok {
            ctx.world.dist.indexed[replica as usize][segment as usize] = indexed;
            self.loaded.insert((replica, segment), bytes);
            let held = ctx.world.usage[u].memory_bytes + bytes;
            ctx.world.usage[u].set_memory(now, held);
        } else if !ctx.world.dist.in_target[replica as usize][segment as usize]
            && ctx.world.ingest.refused.insert(segment as usize)
        {
            // reference §1.8: a handed-off segment that would take the node past the
            // load guard is refused ("OOM if load"); querycoord keeps retrying it.
            let used = ctx.world.hosts[host].memory.used_bytes();
            let id = ctx.world.layout.segments[segment as usize].id;
            ctx.world.task_event(
                now,
                "load_refused",
                self.task,
                format!(
                    "segment {id} ({bytes} bytes) refused: {used} bytes in use of a {limit}-byte load guard; the data set does not fit the query nodes' memory"
                ),
            );
        }
        self.report_loaded(replica, segment, ok, ctx);
    }

    /// A network cut started: downloads from a MinIO host now across it break, and
    /// the load task fails once the read times out (GUESS: like a call, after
    /// `rpc_error_after`; the reference gives no read timeout for the MinIO client).
    /// querycoord retries it (reference §1.7 task.retryinterval).
    pub fn on_links_changed(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let me = ctx.world.task_endpoint(self.task);
        let broken: Vec<(u8, u32)> = self
            .downloads
            .iter()
            .filter(|(_, (since, from))| {
                from.iter().any(|&m| ctx.world.net.cut_since(m, me, *since))
            })
            .map(|(&k, _)| k)
            .collect();
        let at = ctx.now() + ctx.world.rpc_error_after();
        for (replica, segment) in broken {
            self.downloads.remove(&(replica, segment));
            self.report_loaded_at(replica, segment, false, at, ctx);
        }
    }

    fn report_loaded(
        &mut self,
        replica: u8,
        segment: u32,
        ok: bool,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let now = ctx.now();
        self.report_loaded_at(replica, segment, ok, now, ctx);
    }

    fn report_loaded_at(
        &mut self,
        replica: u8,
        segment: u32,
        ok: bool,
        at: SimTime,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let qc = ctx.world.querycoord;
        let qc_task = ctx.world.task_of(qc);
        let gen = self.gen(ctx);
        let node = self.node as u16;
        send_net_from(
            ctx,
            at,
            Endpoint::Task(self.task),
            Endpoint::Task(qc_task),
            CONTROL_RPC_BYTES,
            qc,
            Msg::SegmentLoaded {
                node,
                replica,
                segment,
                gen,
                ok,
            },
        );
    }

    pub fn on_release_segment(&mut self, replica: u8, segment: u32, ctx: &mut Ctx<'_, Msg, World>) {
        if let Some(bytes) = self.loaded.remove(&(replica, segment)) {
            let now = ctx.now();
            let t = &ctx.world.tasks[self.task];
            let (host, u) = (t.host, t.usage);
            ctx.world.hosts[host].memory.free(bytes);
            let held = ctx.world.usage[u].memory_bytes.saturating_sub(bytes);
            ctx.world.usage[u].set_memory(now, held);
        }
    }

    /// Bytes this incarnation holds in segments.
    pub fn loaded_bytes(&self) -> u64 {
        self.loaded.values().sum()
    }
}

impl QueryNode {
    /// reference §3.3 step 4: the delegator appends consumed rows to its growing
    /// segments, searchable at once.
    pub fn on_dml(&mut self, segment: u32, rows: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let w = &mut *ctx.world;
        let shard = w.ingest.segments[segment as usize].shard as usize;
        let mut held = 0;
        let me = (self.task, w.tasks[self.task].gen);
        for r in 0..w.dist.leader.len() {
            if w.dist.leader[r][shard] == Some(self.node) {
                w.ingest.growing_rows[r][shard] += rows as u64;
                w.ingest.growing_holder[r][shard] = Some(me);
                held += rows as i64 * w.ingest.row_bytes as i64;
            }
        }
        w.hold_memory(self.task, held, now);
    }

    /// reference §3.3 step 4: the delegator applies a delete to its growing segments
    /// and checks every key against the bloom filter of each sealed segment of the
    /// shard to find the segments that may hold it. Not modelled: forwarding the
    /// matches to the workers holding those segments (a few keys per segment).
    pub fn on_delete_dml(&mut self, shard: u8, rows: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let w = &*ctx.world;
        let leads = (0..w.dist.leader.len())
            .filter(|&r| w.dist.leader[r][shard as usize] == Some(self.node))
            .count();
        if leads == 0 {
            return;
        }
        let sealed = w
            .layout
            .segments
            .iter()
            .enumerate()
            .filter(|&(i, s)| {
                s.shard == shard as u32 && !w.dist.retired.get(i).copied().unwrap_or(false)
            })
            .count();
        let demand = leads as f64 * rows as f64 * sealed.max(1) as f64 * BLOOM_CHECK_NS;
        let me = ctx.me();
        run_cpu(ctx, self.task, demand, 1, me, Msg::DeletesApplied);
    }

    /// Core-ns the loader spends turning `bytes` of a segment (raw binlogs, or index
    /// files) into loaded data on this node: the measured CPU per byte, or one rate
    /// per load when the experiment sets `[failover] segment_load_bandwidth`.
    fn load_cpu_ns(&self, bytes: u64, raw: bool, ctx: &Ctx<'_, Msg, World>) -> f64 {
        if let Some(bw) = ctx.world.failover.segment_load_bytes_per_s {
            return bytes as f64 / bw * 1e9;
        }
        let per_byte = if raw {
            super::overheads::LOAD_RAW_NS_PER_BYTE
        } else {
            super::overheads::LOAD_INDEX_NS_PER_BYTE
        };
        super::overheads::on_task_host(ctx.world, self.task, bytes as f64 * per_byte)
    }

    /// Bytes the load of (replica, segment) in flight brings in.
    fn load_size(&self, replica: u8, segment: u32, ctx: &Ctx<'_, Msg, World>) -> u64 {
        let i = segment as usize;
        match self.load_indexed.get(&(replica, segment)) {
            Some(false) => ctx.world.layout.segments[i].rows * ctx.world.ingest.row_bytes,
            _ => ctx.world.layout.segments[i].memory_bytes,
        }
    }

    /// reference §3.3 step 8: the index checker asks for a segment's index; the node
    /// downloads the index files and swaps the raw copy for the indexed one.
    pub fn on_load_index(&mut self, replica: u8, segment: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let gen = self.gen(ctx);
        let rows = ctx.world.layout.segments[segment as usize].rows;
        let bytes = crate::hw::cost::index_bytes(&ctx.world.index, rows);
        let me = ctx.me();
        match super::minio::minio_read(ctx, self.task, bytes) {
            Some(done) => ctx.send_at(
                me,
                Msg::IndexDownloaded {
                    replica,
                    segment,
                    gen,
                },
                done,
            ),
            // No object storage reachable: try again shortly (GUESS: 1 s).
            None => ctx.send(
                me,
                Msg::LoadIndex {
                    replica,
                    segment,
                    gen,
                },
                SimDuration::from_secs(1),
            ),
        }
    }

    /// The loader turns the downloaded index files into the segment's index: the
    /// measured CPU per byte of index files, as for a segment loaded indexed.
    pub fn on_index_downloaded(
        &mut self,
        replica: u8,
        segment: u32,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let rows = ctx.world.layout.segments[segment as usize].rows;
        let bytes = crate::hw::cost::index_bytes(&ctx.world.index, rows);
        let demand = self.load_cpu_ns(bytes, false, ctx);
        let (me, gen) = (ctx.me(), self.gen(ctx));
        run_cpu(
            ctx,
            self.task,
            demand,
            1,
            me,
            Msg::IndexDeserialized {
                replica,
                segment,
                gen,
            },
        );
    }

    pub fn on_index_deserialized(
        &mut self,
        replica: u8,
        segment: u32,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let now = ctx.now();
        if let Some(old) = self.loaded.get(&(replica, segment)).copied() {
            let new = ctx.world.layout.segments[segment as usize].memory_bytes;
            self.loaded.insert((replica, segment), new);
            ctx.world
                .hold_memory(self.task, new as i64 - old as i64, now);
        }
        self.report_index(replica, segment, ctx);
    }

    fn report_index(&mut self, replica: u8, segment: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let qc = ctx.world.querycoord;
        let gen = self.gen(ctx);
        send_to(
            ctx,
            self.task,
            qc,
            CONTROL_RPC_BYTES,
            Msg::IndexLoaded {
                node: self.node as u16,
                replica,
                segment,
                gen,
            },
        );
    }
}
