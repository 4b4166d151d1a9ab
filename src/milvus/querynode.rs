//! Query node: shard delegator and search worker (reference §3.1 steps 4-5).

use std::collections::VecDeque;

use crate::engine::{ActorId, Ctx, SimDuration};
use crate::hw::cost::REDUCE_NS_PER_RESULT;

use super::msg::{Msg, Req, Ts};
use super::overheads::{
    search_request_bytes, search_result_bytes, DELEGATOR_BASE_NS, WORKER_TASK_BASE_NS,
};
use super::world::{run_cpu, send_net, Endpoint, World};

#[derive(Clone, Copy, Debug)]
struct WorkerJob {
    req: Req,
    shard: u8,
    replica: u8,
    delegator: ActorId,
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
    tsafe: Ts,
    /// Searches waiting for tsafe to reach their guarantee timestamp.
    parked: VecDeque<Parked>,
    /// reference §1.8: concurrent read tasks = cores x maxReadConcurrentRatio.
    max_running: u32,
    /// reference §1.8: scheduleReadPolicy.maxPendingTask.
    max_pending: usize,
    running: u32,
    queue: VecDeque<WorkerJob>,
}

impl QueryNode {
    pub fn new(task: usize, node: usize, max_running: u32, max_pending: usize) -> Self {
        QueryNode {
            task,
            node,
            tsafe: 0,
            parked: VecDeque::new(),
            max_running: max_running.max(1),
            max_pending,
            running: 0,
            queue: VecDeque::new(),
        }
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
        let guarantee = ctx.world.searches[req as usize].guarantee;
        if self.tsafe >= guarantee {
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

    pub fn on_time_tick(&mut self, ts: Ts, ctx: &mut Ctx<'_, Msg, World>) {
        self.tsafe = self.tsafe.max(ts);
        // Guarantees are non-decreasing in arrival order for Strong and Bounded, but not
        // across consistency levels, so scan the whole queue.
        let mut i = 0;
        while i < self.parked.len() {
            if self.parked[i].guarantee <= self.tsafe {
                let p = self.parked.remove(i).expect("in range");
                self.fan_out(p.req, p.shard, p.replica, ctx);
            } else {
                i += 1;
            }
        }
    }

    /// reference §3.1 step 4b-c: one sub-request per worker holding sealed segments.
    fn fan_out(&mut self, req: Req, shard: u8, replica: u8, ctx: &mut Ctx<'_, Msg, World>) {
        let workers: Vec<usize> = ctx
            .world
            .workers_of(replica as usize, shard as usize)
            .to_vec();
        ctx.world.searches[req as usize].workers_pending[shard as usize] = workers.len() as u16;
        if workers.is_empty() {
            self.reduce(req, shard, 0, ctx);
            return;
        }
        let me = ctx.me();
        let p = &ctx.world.params;
        let bytes = search_request_bytes(p.nq, p.dim);
        for w in workers {
            let msg = Msg::WorkerSearchArrived {
                req,
                shard,
                replica,
                delegator: me,
            };
            if w == self.node {
                // The local worker is called in-process.
                ctx.send(me, msg, SimDuration::ZERO);
            } else {
                let actor = ctx.world.query_node_actors[w];
                let task = ctx.world.query_node_tasks[w];
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
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let job = WorkerJob {
            req,
            shard,
            replica,
            delegator,
        };
        if self.running < self.max_running {
            self.start(job, ctx);
        } else if self.queue.len() < self.max_pending {
            self.queue.push_back(job);
            self.note_queue(ctx);
        } else {
            ctx.world.searches[req as usize].error = Some("query node read task queue is full");
            self.reply_to_delegator(job, true, ctx);
        }
    }

    fn start(&mut self, job: WorkerJob, ctx: &mut Ctx<'_, Msg, World>) {
        self.running += 1;
        let cost = ctx
            .world
            .sub_cost(job.replica as usize, job.shard as usize, self.node);
        let me = ctx.me();
        run_cpu(
            ctx,
            self.task,
            WORKER_TASK_BASE_NS + cost.demand_core_ns,
            cost.threads,
            me,
            Msg::WorkerSearched {
                req: job.req,
                shard: job.shard,
                replica: job.replica,
                delegator: job.delegator,
            },
        );
    }

    pub fn on_worker_searched(
        &mut self,
        req: Req,
        shard: u8,
        replica: u8,
        delegator: ActorId,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        self.running -= 1;
        if let Some(next) = self.queue.pop_front() {
            self.start(next, ctx);
            self.note_queue(ctx);
        }
        self.reply_to_delegator(
            WorkerJob {
                req,
                shard,
                replica,
                delegator,
            },
            false,
            ctx,
        );
    }

    fn reply_to_delegator(&mut self, job: WorkerJob, failed: bool, ctx: &mut Ctx<'_, Msg, World>) {
        let msg = Msg::WorkerReplied {
            req: job.req,
            shard: job.shard,
            failed,
        };
        if job.delegator == ctx.me() {
            ctx.send(job.delegator, msg, SimDuration::ZERO);
        } else {
            let p = &ctx.world.params;
            let bytes = search_result_bytes(p.nq, p.topk);
            let task = ctx.world.task_of(job.delegator);
            send_net(
                ctx,
                Endpoint::Task(self.task),
                Endpoint::Task(task),
                bytes,
                job.delegator,
                msg,
            );
        }
    }

    /// reference §3.1 step 4d: any failed sub-task fails the shard.
    pub fn on_worker_replied(
        &mut self,
        req: Req,
        shard: u8,
        failed: bool,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let s = &mut ctx.world.searches[req as usize];
        if failed && s.error.is_none() {
            s.error = Some("query node read task queue is full");
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
        let p = &ctx.world.params;
        let demand =
            DELEGATOR_BASE_NS + (p.nq * p.topk) as f64 * workers as f64 * REDUCE_NS_PER_RESULT;
        let me = ctx.me();
        run_cpu(
            ctx,
            self.task,
            demand,
            1,
            me,
            Msg::DelegatorReduced { req, shard },
        );
    }

    pub fn on_delegator_reduced(&mut self, req: Req, shard: u8, ctx: &mut Ctx<'_, Msg, World>) {
        let s = &ctx.world.searches[req as usize];
        let proxy = s.proxy;
        let p = &ctx.world.params;
        let bytes = search_result_bytes(p.nq, p.topk);
        let to = ctx.world.task_of(proxy);
        send_net(
            ctx,
            Endpoint::Task(self.task),
            Endpoint::Task(to),
            bytes,
            proxy,
            Msg::ShardSearched { req, shard },
        );
    }
}
