//! A host's CPU as a processor-sharing server over threads.
//!
//! Discipline (DESIGN.md "Modelling notes"): a Milvus process runs many goroutines over
//! N cores, so FCFS would be wrong. Each task declares how many threads it runs in
//! parallel (a search sub-request runs one goroutine per segment, reference §3.1 step 5).
//! All runnable threads share the cores equally, and no thread gets more than one
//! core: with T threads on C cores each thread progresses at min(1, C/T) core-seconds
//! per second. A task with demand D core-ns spread over k threads finishes when each of
//! its threads has received D/k ns of service.
//!
//! Processes outside the model (a host's `background_cores`, b) compete for the same
//! cores as b more runnable threads: Linux's fair scheduler shares a CPU among runnable
//! threads, not among processes (within a scheduling group; autogroups and cgroups are
//! shared among first, which this does not play), so the model's T threads get
//! min(1, C/(T+b)) each and the others b·min(1, C/(T+b)), all of b while the model
//! leaves them room. The others
//! are taken to want their b all along (a build, another service); their use can be
//! followed ([`PsCpu::track_fine`]).
//!
//! Implemented with a virtual clock V that advances at min(1, C/(T+b)): a task's finish
//! tag V + D/k is fixed at arrival, so arrival and departure cost O(log n) and no
//! pass over all tasks is ever needed.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::buckets::{FineBuckets, SecondBuckets};
use crate::engine::SimTime;

struct Task<T> {
    finish_v: f64,
    seq: u64,
    threads: u32,
    owner: usize,
    payload: T,
}

impl<T> PartialEq for Task<T> {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl<T> Eq for Task<T> {}
impl<T> PartialOrd for Task<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Task<T> {
    // Min-heap on (finish tag, arrival order).
    fn cmp(&self, o: &Self) -> Ordering {
        o.finish_v
            .total_cmp(&self.finish_v)
            .then_with(|| o.seq.cmp(&self.seq))
    }
}

/// Processor-sharing CPU. `T` is what the owner wants back when a task finishes.
pub struct PsCpu<T> {
    cores: f64,
    /// The runnable threads' worth of processes outside the model (b above).
    background: f64,
    /// The model's and the others' use in short buckets, when asked for
    /// ([`PsCpu::track_fine`]).
    fine: Option<(FineBuckets, FineBuckets)>,
    v: f64,
    t_last: SimTime,
    threads: u32,
    seq: u64,
    tasks: BinaryHeap<Task<T>>,
    wake_at: Option<SimTime>,
    threads_by_owner: Vec<u32>,
    busy_by_owner: Vec<SecondBuckets>,
}

/// Finish tags within this many virtual nanoseconds of the clock count as finished;
/// it absorbs the rounding of wake-up times to whole nanoseconds.
const FINISH_SLACK_V: f64 = 1.0;

impl<T> PsCpu<T> {
    pub fn new(cores: u32, owners: usize) -> Self {
        PsCpu::shared(cores, 0.0, owners)
    }

    /// A CPU on which processes outside the model keep `background` threads' worth of
    /// work runnable all along: they and the model's threads share the cores, each
    /// thread at most one core. `background` may exceed the cores (many threads).
    pub fn shared(cores: u32, background: f64, owners: usize) -> Self {
        assert!(cores > 0, "a CPU needs at least one core");
        assert!(
            background.is_finite() && background >= 0.0,
            "background of {background} threads"
        );
        PsCpu {
            cores: cores as f64,
            background,
            fine: None,
            v: 0.0,
            t_last: SimTime::ZERO,
            threads: 0,
            seq: 0,
            tasks: BinaryHeap::new(),
            wake_at: None,
            threads_by_owner: vec![0; owners],
            busy_by_owner: vec![SecondBuckets::default(); owners],
        }
    }

    /// Adds a CPU owner (a process moved onto this host); returns its index.
    pub fn add_owner(&mut self) -> usize {
        self.threads_by_owner.push(0);
        self.busy_by_owner.push(SecondBuckets::default());
        self.threads_by_owner.len() - 1
    }

    /// The cores' worth each runnable thread gets, the others' included.
    fn share(&self) -> f64 {
        let runnable = self.threads as f64 + self.background;
        if runnable <= 0.0 {
            1.0
        } else {
            (self.cores / runnable).min(1.0)
        }
    }

    fn rate(&self) -> f64 {
        if self.threads == 0 {
            0.0
        } else {
            self.share()
        }
    }

    fn advance(&mut self, now: SimTime) {
        debug_assert!(now >= self.t_last);
        if now > self.t_last && self.fine.is_some() {
            let share = self.share();
            let (model_rate, others_rate) = (share * self.threads as f64, share * self.background);
            if let Some((model, others)) = &mut self.fine {
                model.add_interval(self.t_last, now, model_rate);
                others.add_interval(self.t_last, now, others_rate);
            }
        }
        if now > self.t_last && self.threads > 0 {
            let rate = self.rate();
            self.v += (now.0 - self.t_last.0) as f64 * rate;
            for (owner, &n) in self.threads_by_owner.iter().enumerate() {
                if n > 0 {
                    self.busy_by_owner[owner].add_interval(self.t_last, now, rate * n as f64);
                }
            }
        }
        self.t_last = now;
    }

    fn next_finish(&self) -> Option<SimTime> {
        let top = self.tasks.peek()?;
        let dv = (top.finish_v - self.v).max(0.0);
        let dt = (dv / self.rate()).ceil() as u64;
        Some(SimTime(self.t_last.0 + dt))
    }

    /// Starts a task of `demand_core_ns` over `threads` parallel threads.
    /// Returns a time at which the caller must call [`PsCpu::wake`], if a new
    /// wake-up is needed (the earliest finish moved earlier than the one scheduled).
    pub fn submit(
        &mut self,
        now: SimTime,
        demand_core_ns: f64,
        threads: u32,
        owner: usize,
        payload: T,
    ) -> Option<SimTime> {
        assert!(threads > 0, "a task runs at least one thread");
        assert!(
            demand_core_ns >= 0.0,
            "negative CPU demand {demand_core_ns}"
        );
        self.advance(now);
        self.tasks.push(Task {
            finish_v: self.v + demand_core_ns / threads as f64,
            seq: self.seq,
            threads,
            owner,
            payload,
        });
        self.seq += 1;
        self.threads += threads;
        self.threads_by_owner[owner] += threads;
        let next = self.next_finish();
        match (next, self.wake_at) {
            (Some(n), Some(w)) if n >= w => None,
            (n, _) => {
                self.wake_at = n;
                n
            }
        }
    }

    /// Handles a wake-up scheduled for `scheduled`. Stale wake-ups (superseded by an
    /// earlier one) do nothing. Finished payloads go to `done` in finish order.
    /// Returns the next wake-up time to schedule, if any.
    pub fn wake(&mut self, now: SimTime, scheduled: SimTime, done: &mut Vec<T>) -> Option<SimTime> {
        if self.wake_at != Some(scheduled) {
            return None;
        }
        self.advance(now);
        while let Some(top) = self.tasks.peek() {
            if top.finish_v > self.v + FINISH_SLACK_V {
                break;
            }
            let t = self.tasks.pop().expect("peeked");
            self.threads -= t.threads;
            self.threads_by_owner[t.owner] -= t.threads;
            done.push(t.payload);
        }
        self.wake_at = self.next_finish();
        self.wake_at
    }

    /// The threads of `owner` stop (its process died): its tasks are dropped
    /// unfinished and the others speed up. Returns a time at which the caller must
    /// call [`PsCpu::wake`], if the earliest finish changed.
    pub fn cancel_owner(&mut self, now: SimTime, owner: usize) -> Option<SimTime> {
        if self.threads_by_owner[owner] == 0 {
            return None;
        }
        self.advance(now);
        let tasks = std::mem::take(&mut self.tasks);
        self.tasks = tasks.into_iter().filter(|t| t.owner != owner).collect();
        self.threads -= self.threads_by_owner[owner];
        self.threads_by_owner[owner] = 0;
        let next = self.next_finish();
        if next == self.wake_at {
            return None;
        }
        self.wake_at = next;
        next
    }

    /// Brings the usage accounting up to `now` (call before reading the series).
    pub fn sync(&mut self, now: SimTime) {
        self.advance(now);
    }

    /// Core-nanoseconds used by `owner` in each second.
    pub fn busy(&self, owner: usize) -> &SecondBuckets {
        &self.busy_by_owner[owner]
    }

    /// Keeps the model's and the others' use in buckets of `width_ns` from now on.
    pub fn track_fine(&mut self) {
        self.fine = Some((FineBuckets::default(), FineBuckets::default()));
    }

    /// The model's and the others' use in short buckets, if tracked.
    pub fn fine_usage(&self) -> Option<&(FineBuckets, FineBuckets)> {
        self.fine.as_ref()
    }

    pub fn cores(&self) -> u32 {
        self.cores as u32
    }

    /// How many owners use this CPU.
    pub fn owners(&self) -> usize {
        self.busy_by_owner.len()
    }

    pub fn running_tasks(&self) -> usize {
        self.tasks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(cpu: &mut PsCpu<u32>, mut wake: Option<SimTime>) -> Vec<(u64, u32)> {
        let mut out = vec![];
        let mut done = vec![];
        while let Some(w) = wake {
            wake = cpu.wake(w, w, &mut done);
            out.extend(done.drain(..).map(|p| (w.0, p)));
        }
        out
    }

    #[test]
    fn a_lone_single_thread_task_runs_at_one_core() {
        let mut cpu = PsCpu::new(4, 1);
        let w = cpu.submit(SimTime(0), 1000.0, 1, 0, 7);
        assert_eq!(drain(&mut cpu, w), vec![(1000, 7)]);
    }

    #[test]
    fn threads_share_cores_when_oversubscribed() {
        // 2 cores, two tasks of 2 threads each and 1000 core-ns: 4 threads at 0.5 each;
        // each task gets 1 core, so both finish at 1000 ns.
        let mut cpu = PsCpu::new(2, 1);
        let w = cpu.submit(SimTime(0), 1000.0, 2, 0, 1);
        // The first task alone would finish at 500; the wake-up stays scheduled there
        // and finds nothing done, because the second task halved the first's rate.
        assert_eq!(w, Some(SimTime(500)));
        assert_eq!(cpu.submit(SimTime(0), 1000.0, 2, 0, 2), None);
        assert_eq!(drain(&mut cpu, w), vec![(1000, 1), (1000, 2)]);
    }

    #[test]
    fn others_threads_compete_with_the_models_for_the_cores() {
        // 2 cores, others keep 2 threads runnable: a lone model thread gets 2/3 of a
        // core (not the 0 cores "the others' use" would leave it), 1000 core-ns take
        // 1500 ns, while the others get 4/3 cores, and all 2 cores before and after.
        // (The use is read from 10 ms buckets: these times are in units of 10 ms.)
        const U: u64 = 10_000_000;
        let mut cpu = PsCpu::shared(2, 2.0, 1);
        cpu.track_fine();
        let w = cpu.submit(SimTime(0), 1000.0 * U as f64, 1, 0, 1);
        assert_eq!(drain(&mut cpu, w), vec![(1500 * U, 1)]);
        cpu.sync(SimTime(3000 * U));
        let (model, others) = cpu.fine_usage().unwrap();
        let per_s = |b: &FineBuckets, from: f64, to: f64| {
            b.mean_over(from * U as f64 * 1e-9, to * U as f64 * 1e-9)
                .unwrap()
        };
        assert!((per_s(model, 0.0, 1500.0) - 2.0 / 3.0).abs() < 1e-9);
        assert!((per_s(others, 0.0, 1500.0) - 4.0 / 3.0).abs() < 1e-9);
        assert!((per_s(others, 1500.0, 3000.0) - 2.0).abs() < 1e-9);
        assert_eq!(per_s(model, 1500.0, 3000.0), 0.0);
        let others = (per_s(others, 0.0, 1500.0) + per_s(others, 1500.0, 3000.0)) * 1500.0;
        assert!(
            (others - (1500.0 * 4.0 / 3.0 + 1500.0 * 2.0)).abs() < 1e-6,
            "{others}"
        );
        // Others of half a thread leave a lone model thread its whole core; 3 model
        // threads and half a thread's worth share 2 cores at 2/3.5 each.
        let mut cpu = PsCpu::shared(2, 0.5, 1);
        let w = cpu.submit(SimTime(0), 1000.0, 1, 0, 2);
        assert_eq!(drain(&mut cpu, w), vec![(1000, 2)]);
        let w = cpu.submit(SimTime(2000), 1500.0, 3, 0, 3);
        assert_eq!(drain(&mut cpu, w), vec![(2000 + 875, 3)]);
        // Many threads of others (a build at -j8) leave the model little.
        let mut cpu = PsCpu::shared(2, 8.0, 1);
        let w = cpu.submit(SimTime(0), 1000.0, 2, 0, 4);
        assert_eq!(drain(&mut cpu, w), vec![(2500, 4)]);
    }

    #[test]
    fn a_dead_owners_tasks_stop_and_the_rest_speed_up() {
        // 1 core: owner 0's task of 1000 ns and owner 1's of 1000 ns share it; owner 1
        // dies at 200 ns (each has had 100 ns), so owner 0 finishes alone at 1100 ns.
        let mut cpu = PsCpu::new(1, 2);
        let w = cpu.submit(SimTime(0), 1000.0, 1, 0, 1);
        assert_eq!(cpu.submit(SimTime(0), 1000.0, 1, 1, 2), None);
        let again = cpu.cancel_owner(SimTime(200), 1);
        assert_eq!(again, Some(SimTime(1100)));
        // The wake-up scheduled before is stale; the new one finds owner 0's task.
        let mut done = vec![];
        assert_eq!(cpu.wake(w.unwrap(), w.unwrap(), &mut done), None);
        assert!(done.is_empty());
        assert_eq!(drain(&mut cpu, again), vec![(1100, 1)]);
        assert_eq!(cpu.running_tasks(), 0);
        assert_eq!(cpu.cancel_owner(SimTime(2000), 1), None);
    }

    #[test]
    fn departures_speed_up_the_rest() {
        // 1 core, tasks of 100 and 300 ns: shared until 200 ns, then the long one alone.
        let mut cpu = PsCpu::new(1, 2);
        let w = cpu.submit(SimTime(0), 100.0, 1, 0, 1);
        assert_eq!(cpu.submit(SimTime(0), 300.0, 1, 1, 2), None);
        assert_eq!(drain(&mut cpu, w), vec![(200, 1), (400, 2)]);
        assert_eq!(cpu.busy(0).get(0), 100.0);
        assert_eq!(cpu.busy(1).get(0), 300.0);
    }

    #[test]
    fn a_late_arrival_slows_a_running_task_and_the_wake_up_is_rescheduled() {
        let mut cpu = PsCpu::new(1, 1);
        let w1 = cpu.submit(SimTime(0), 100.0, 1, 0, 1).unwrap();
        assert_eq!(w1, SimTime(100));
        // At 50 a second task arrives: the first now needs 100 more ns of wall time.
        assert_eq!(cpu.submit(SimTime(50), 1000.0, 1, 0, 2), None);
        let mut done = vec![];
        let w2 = cpu.wake(w1, w1, &mut done).unwrap();
        assert!(done.is_empty());
        assert_eq!(w2, SimTime(150));
        let w3 = cpu.wake(w2, w2, &mut done).unwrap();
        assert_eq!(done, vec![1]);
        assert_eq!(w3, SimTime(1100));
    }

    #[test]
    fn stale_wake_ups_are_ignored() {
        let mut cpu = PsCpu::new(1, 1);
        let late = cpu.submit(SimTime(0), 1000.0, 1, 0, 1).unwrap();
        let early = cpu.submit(SimTime(0), 0.0, 1, 0, 2).unwrap();
        assert!(early < late);
        let mut done = vec![];
        assert_eq!(cpu.wake(late, late, &mut done), None);
        assert!(done.is_empty());
    }
}
