//! Engine benchmarks (criterion).
//!
//! * `phold`: PHOLD on the engine, 1024 LPs x 16 initial events each, 200,000 events
//!   per iteration on one warm simulation (steady state: 16,384 pending events).
//! * `hold/*`: the classic hold model on the candidate future-event lists. Each
//!   element is one hold operation: pop the minimum, push one entry at its time plus
//!   a random delay, so the pending size stays fixed (100, 10,000, 100,000).
//!   Compared: std `BinaryHeap` of `Reverse((time, seq))`, `priority_queue::PriorityQueue`
//!   keyed by seq with priority `Reverse((time, seq))`, and the engine's own
//!   `EventQueue`: a radix heap on the u128 key `time << 64 | seq`, which is unique
//!   and monotone in a simulation (every push is at or after the last pop), so it
//!   pops in exact (time, seq) order. Delays are pre-generated (ChaCha8, fixed seed)
//!   so RNG cost stays out.
//!
//! `cargo bench --bench engine` takes about 60 s on 2 cores (sample_size 10, 3 s per bench).

mod phold_model;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use priority_queue::PriorityQueue;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use simctl::engine::queue::EventQueue;
use simctl::engine::SimTime;

const PHOLD_EVENTS_PER_ITER: u64 = 200_000;
const HOLD_OPS_PER_ITER: u64 = 1_000;
const HOLD_SIZES: [usize; 3] = [100, 10_000, 100_000];
/// Pre-generated delays; a power of two so the index wraps with a mask.
const N_DELAYS: usize = 1 << 16;

fn phold(c: &mut Criterion) {
    let mut g = c.benchmark_group("phold");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(PHOLD_EVENTS_PER_ITER));
    let args = phold_model::Args::default(); // 1024 LPs x 16, remote 0.5
    let mut sim = phold_model::build(&args);
    g.bench_function("lps1024_pop16_remote0.5", |b| {
        b.iter(|| black_box(phold_model::run_events(&mut sim, PHOLD_EVENTS_PER_ITER)))
    });
    g.finish();
}

/// Exponential delays in ns, mean 1000, at least 1 (so the engine queue never takes
/// its zero-delay FIFO path and every queue does the same work).
fn delays() -> Vec<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    (0..N_DELAYS)
        .map(|_| {
            let u: f64 = rng.random::<f64>();
            1 + (-1000.0 * (1.0 - u).ln()) as u64
        })
        .collect()
}

fn hold(c: &mut Criterion) {
    let delays = delays();
    let mut g = c.benchmark_group("hold");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(HOLD_OPS_PER_ITER));

    for &n in &HOLD_SIZES {
        // std BinaryHeap, min-ordered by (time, seq).
        {
            let mut heap: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::with_capacity(n + 1);
            let mut seq = 0u64;
            let mut di = 0usize;
            for _ in 0..n {
                heap.push(Reverse((delays[di], seq)));
                seq += 1;
                di = (di + 1) & (N_DELAYS - 1);
            }
            g.bench_with_input(BenchmarkId::new("binary_heap", n), &n, |b, _| {
                b.iter(|| {
                    for _ in 0..HOLD_OPS_PER_ITER {
                        let Reverse((t, _)) = heap.pop().unwrap();
                        heap.push(Reverse((t + delays[di], seq)));
                        seq += 1;
                        di = (di + 1) & (N_DELAYS - 1);
                    }
                    black_box(heap.len())
                })
            });
        }
        // priority_queue::PriorityQueue keyed by seq (default hasher).
        {
            let mut pq: PriorityQueue<u64, Reverse<(u64, u64)>> =
                PriorityQueue::with_capacity(n + 1);
            let mut seq = 0u64;
            let mut di = 0usize;
            for _ in 0..n {
                pq.push(seq, Reverse((delays[di], seq)));
                seq += 1;
                di = (di + 1) & (N_DELAYS - 1);
            }
            g.bench_with_input(BenchmarkId::new("priority_queue", n), &n, |b, _| {
                b.iter(|| {
                    for _ in 0..HOLD_OPS_PER_ITER {
                        let (_, Reverse((t, _))) = pq.pop().unwrap();
                        pq.push(seq, Reverse((t + delays[di], seq)));
                        seq += 1;
                        di = (di + 1) & (N_DELAYS - 1);
                    }
                    black_box(pq.len())
                })
            });
        }
        // The engine's EventQueue with a u32 payload, as the simulation uses it.
        {
            let mut q: EventQueue<u32> = EventQueue::default();
            let mut di = 0usize;
            for _ in 0..n {
                q.push(SimTime::ZERO, SimTime(delays[di]), 0, 0);
                di = (di + 1) & (N_DELAYS - 1);
            }
            g.bench_with_input(BenchmarkId::new("engine_event_queue", n), &n, |b, _| {
                b.iter(|| {
                    for _ in 0..HOLD_OPS_PER_ITER {
                        let e = q.pop().unwrap();
                        let now = e.time;
                        q.push(now, SimTime(now.0 + delays[di]), e.target(), e.msg);
                        di = (di + 1) & (N_DELAYS - 1);
                    }
                    black_box(q.len())
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, phold, hold);
criterion_main!(benches);
