//! The users' nginx in front of MinIO (`minio-proxy`, reference §1.10, §2.9): how
//! each worker process picks the MinIO server that coordinates a request, and its
//! passive failure detection.
//!
//! The rules are nginx's (`ngx_http_upstream_least_conn_module`,
//! `ngx_http_upstream_round_robin.c`), played per worker:
//! - `least_conn`: the server with the fewest requests in flight from this worker
//!   wins; several with as few go by smooth weighted round robin (every server has
//!   weight 1 in the users' file). `round_robin`: smooth weighted round robin.
//! - a server with `fails >= max_fails` whose last check is at most `fail_timeout`
//!   old is skipped; once older, one request may try it again (choosing it sets
//!   `checked`), and a success after that check clears its failures.
//! - a failed attempt counts a failure, lowers the server's effective weight by
//!   `weight / max_fails`, and (`proxy_next_upstream error timeout`, the default)
//!   the request goes on to a server it has not tried; with none left it fails
//!   (`502`, "no live upstreams").
//!
//! The users' upstream has no `zone`, so each worker keeps its own counts and
//! failures: every worker learns of a dead server by itself.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::engine::SimTime;
use crate::scenario::nginx::{Balance, Nginx};

#[derive(Clone, Debug, Default)]
struct Peer {
    /// Requests in flight to this server from the worker.
    conns: u32,
    fails: u32,
    /// When the last failure happened.
    accessed: SimTime,
    /// When the server was last chosen after a quiet `fail_timeout`, or failed.
    checked: SimTime,
    current_weight: i64,
    effective_weight: i64,
}

/// What became of an attempt, known when it is made and applied when it happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Finished,
    Failed,
}

#[derive(Clone, Debug)]
struct Worker {
    peers: Vec<Peer>,
    /// Ends of attempts in flight: (when, sequence, server, outcome).
    pending: BinaryHeap<Reverse<(SimTime, u64, usize, Outcome)>>,
}

impl Worker {
    fn new(servers: usize) -> Self {
        Worker {
            peers: vec![
                Peer {
                    effective_weight: WEIGHT,
                    ..Peer::default()
                };
                servers
            ],
            pending: BinaryHeap::new(),
        }
    }
}

/// Every server of the users' upstream has the default weight.
const WEIGHT: i64 = 1;

/// One nginx task (container): its worker processes.
#[derive(Clone, Debug)]
struct Task {
    workers: Vec<Worker>,
    next_worker: usize,
    /// The task's incarnation these workers belong to (a restart starts fresh ones).
    gen: u32,
}

/// Counts of what nginx did, for summary.json.
#[derive(Clone, Debug, Default)]
pub struct UpstreamStats {
    /// Requests nginx passed to a MinIO server (after any failed attempts).
    pub requests: u64,
    /// Requests per MinIO server (in upstream order).
    pub per_server: Vec<u64>,
    /// Attempts that failed: a refused or timed-out connect.
    pub attempts_failed: u64,
    /// Requests that waited for a connect to time out, and the time they waited.
    pub requests_delayed: u64,
    pub connect_wait_ns: u64,
    /// Requests that found no server left to try (502).
    pub no_live_upstream: u64,
    /// Connects of the Milvus processes to an nginx task that answers nothing
    /// (its host crashed or is cut off, and it is still in the virtual IP), and the
    /// time the requests waited for them.
    pub client_connects_timed_out: u64,
    pub client_connect_wait_ns: u64,
}

/// The upstream `minio` as every nginx task's workers see it.
#[derive(Clone, Debug, Default)]
pub struct Upstream {
    pub cfg: Nginx,
    servers: usize,
    tasks: Vec<Task>,
    seq: u64,
    pub stats: UpstreamStats,
}

impl Upstream {
    /// `workers[i]`: worker processes of nginx task i.
    pub fn new(cfg: Nginx, servers: usize, workers: &[u32]) -> Self {
        Upstream {
            cfg,
            servers,
            tasks: workers
                .iter()
                .map(|&n| Task {
                    workers: vec![Worker::new(servers); n.max(1) as usize],
                    next_worker: 0,
                    gen: 0,
                })
                .collect(),
            seq: 0,
            stats: UpstreamStats {
                per_server: vec![0; servers],
                ..UpstreamStats::default()
            },
        }
    }

    /// The worker of task `task` (incarnation `gen`) that takes the next connection.
    /// GUESS: the kernel hands connections to the workers in turn (no `reuseport` in
    /// the users' file; which worker wakes is not deterministic in reality).
    pub fn worker(&mut self, task: usize, gen: u32) -> usize {
        let t = &mut self.tasks[task];
        if t.gen != gen {
            // A restarted container: new workers, nothing learnt.
            let n = t.workers.len();
            *t = Task {
                workers: vec![Worker::new(self.servers); n],
                next_worker: 0,
                gen,
            };
        }
        let w = t.next_worker;
        t.next_worker = (w + 1) % t.workers.len();
        w
    }

    /// Applies what happened to the worker's attempts up to `now`.
    fn settle(&mut self, task: usize, worker: usize, now: SimTime) {
        let w = &mut self.tasks[task].workers[worker];
        while let Some(&Reverse((at, _, server, outcome))) = w.pending.peek() {
            if at > now {
                break;
            }
            w.pending.pop();
            let p = &mut w.peers[server];
            debug_assert!(p.conns > 0, "an attempt ended that never started");
            p.conns = p.conns.saturating_sub(1);
            match outcome {
                Outcome::Failed => {
                    p.fails += 1;
                    p.accessed = at;
                    p.checked = at;
                    if self.cfg.max_fails > 0 {
                        p.effective_weight -= WEIGHT / self.cfg.max_fails as i64;
                        p.effective_weight = p.effective_weight.max(0);
                    }
                }
                // A success after a check clears the failures.
                Outcome::Finished => {
                    if p.accessed < p.checked {
                        p.fails = 0;
                    }
                }
            }
        }
    }

    /// Whether a server is out for now: `max_fails` failures and checked within
    /// `fail_timeout`.
    fn out(&self, p: &Peer, now: SimTime) -> bool {
        self.cfg.max_fails > 0
            && p.fails >= self.cfg.max_fails
            && now.0.saturating_sub(p.checked.0) <= self.cfg.fail_timeout.0
    }

    /// The server worker `worker` of task `task` passes a request to at `now`,
    /// among those not `tried` yet; None: no live upstream.
    pub fn pick(
        &mut self,
        task: usize,
        worker: usize,
        now: SimTime,
        tried: &[bool],
    ) -> Option<usize> {
        self.settle(task, worker, now);
        let eligible: Vec<usize> = (0..self.servers)
            .filter(|&s| !tried[s] && !self.out(&self.tasks[task].workers[worker].peers[s], now))
            .collect();
        let w = &mut self.tasks[task].workers[worker];
        let candidates: Vec<usize> = match self.cfg.balance {
            Balance::RoundRobin => eligible,
            Balance::LeastConn => {
                // All weights are equal, so fewest conns is fewest conns per weight.
                let least = eligible.iter().map(|&s| w.peers[s].conns).min()?;
                eligible
                    .into_iter()
                    .filter(|&s| w.peers[s].conns == least)
                    .collect()
            }
        };
        let best = match candidates.as_slice() {
            [] => return None,
            // least_conn takes a lone least-loaded server without touching weights.
            [only] if self.cfg.balance == Balance::LeastConn => *only,
            _ => {
                // Smooth weighted round robin (ngx_http_upstream_get_peer).
                let mut total = 0;
                let mut best: Option<usize> = None;
                for &s in &candidates {
                    let p = &mut w.peers[s];
                    p.current_weight += p.effective_weight;
                    total += p.effective_weight;
                    if p.effective_weight < WEIGHT {
                        p.effective_weight += 1;
                    }
                    let cw = p.current_weight;
                    if best.is_none_or(|b| cw > w.peers[b].current_weight) {
                        best = Some(s);
                    }
                }
                let b = best.expect("candidates");
                w.peers[b].current_weight -= total;
                b
            }
        };
        let p = &mut w.peers[best];
        if now.0.saturating_sub(p.checked.0) > self.cfg.fail_timeout.0 {
            p.checked = now;
        }
        p.conns += 1;
        Some(best)
    }

    /// The attempt on `server` that [`Upstream::pick`] chose ends at `at`: it failed
    /// (a refused or timed-out connect) or the request finished.
    pub fn ends(&mut self, task: usize, worker: usize, server: usize, at: SimTime, failed: bool) {
        self.seq += 1;
        let outcome = if failed {
            Outcome::Failed
        } else {
            Outcome::Finished
        };
        self.tasks[task].workers[worker]
            .pending
            .push(Reverse((at, self.seq, server, outcome)));
    }

    /// The figures of summary.json's `storage.nginx`.
    pub fn summary(&self, servers: &[String]) -> serde_json::Value {
        let s = &self.stats;
        serde_json::json!({
            "balance": self.cfg.balance.name(),
            "requests": s.requests,
            "requests_per_server": servers
                .iter()
                .zip(&s.per_server)
                .map(|(n, c)| (n.clone(), serde_json::json!(c)))
                .collect::<serde_json::Map<_, _>>(),
            "attempts_failed": s.attempts_failed,
            "requests_delayed": s.requests_delayed,
            "connect_wait_s": s.connect_wait_ns as f64 / 1e9,
            "no_live_upstream": s.no_live_upstream,
            "client_connects_timed_out": s.client_connects_timed_out,
            "client_connect_wait_s": s.client_connect_wait_ns as f64 / 1e9,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SimDuration;

    fn up(balance: Balance) -> Upstream {
        Upstream::new(
            Nginx {
                balance,
                ..Nginx::default()
            },
            4,
            &[1],
        )
    }

    fn t(s: u64) -> SimTime {
        SimTime(SimDuration::from_secs(s).0)
    }

    #[test]
    fn least_conn_fills_the_idle_servers_first_and_breaks_ties_in_turn() {
        let mut u = up(Balance::LeastConn);
        let none = [false; 4];
        // Four requests at once: one per server, in upstream order.
        let picks: Vec<usize> = (0..4).map(|_| u.pick(0, 0, t(1), &none).unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 2, 3]);
        // Server 2 finishes first: the next request goes there.
        u.ends(0, 0, 2, t(2), false);
        assert_eq!(u.pick(0, 0, t(3), &none), Some(2));
    }

    #[test]
    fn round_robin_ignores_what_is_in_flight() {
        let mut u = up(Balance::RoundRobin);
        let none = [false; 4];
        let picks: Vec<usize> = (0..8).map(|_| u.pick(0, 0, t(1), &none).unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 2, 3, 0, 1, 2, 3]);
    }

    #[test]
    fn a_failed_server_is_skipped_for_fail_timeout_then_tried_once() {
        let mut u = up(Balance::LeastConn);
        let none = [false; 4];
        assert_eq!(u.pick(0, 0, t(0), &none), Some(0));
        u.ends(0, 0, 0, t(0), true);
        for k in 0..6 {
            let s = u.pick(0, 0, t(5), &none).unwrap();
            assert_ne!(s, 0, "request {k} went to the failed server");
            u.ends(0, 0, s, t(5), false);
        }
        // 11 s after the failure one request may try it again, and only one while
        // that probe is in flight.
        let mut probes = 0;
        for _ in 0..8 {
            let s = u.pick(0, 0, t(11), &none).unwrap();
            if s == 0 {
                probes += 1;
            } else {
                u.ends(0, 0, s, t(11), false);
            }
        }
        assert_eq!(probes, 1);
        // That probe succeeds: the server is back.
        u.ends(0, 0, 0, t(12), false);
        let mut seen = false;
        for _ in 0..4 {
            let s = u.pick(0, 0, t(13), &none).unwrap();
            seen |= s == 0;
        }
        assert!(seen, "a server whose probe succeeded takes requests again");
    }

    #[test]
    fn with_every_server_tried_there_is_no_live_upstream() {
        let mut u = up(Balance::LeastConn);
        assert_eq!(u.pick(0, 0, t(0), &[true, true, true, false]), Some(3));
        assert_eq!(u.pick(0, 0, t(0), &[true; 4]), None);
    }
}
