//! PHOLD, the standard discrete-event benchmark, on simctl's engine.
//!
//! ```text
//! cargo run --release --example phold -- --lps 1024 --population 16 --remote 0.5 --events 20000000
//! ```
//!
//! The last line printed is `events_per_second: N`, event-loop time only (building
//! the actors and the initial events is reported separately).

#[path = "../benches/phold_model/mod.rs"]
mod phold_model;

use std::time::Instant;

use clap::Parser;
use phold_model::{build, run_events, Args};

fn main() {
    let args = Args::parse();
    println!(
        "phold: lps={} population={} remote={} events={} mean_delay_us={} lookahead_us={} seed={}",
        args.lps,
        args.population,
        args.remote,
        args.events,
        args.mean_delay_us,
        args.lookahead_us,
        args.seed
    );

    let t0 = Instant::now();
    let mut sim = build(&args);
    let setup = t0.elapsed().as_secs_f64();
    println!(
        "setup: {:.3} s ({} pending events)",
        setup,
        sim.pending_events()
    );

    let t1 = Instant::now();
    let events = run_events(&mut sim, args.events);
    let secs = t1.elapsed().as_secs_f64();

    println!("events: {events}");
    println!("simulated_time_ns: {}", sim.now().as_nanos());
    println!("pending_events: {}", sim.pending_events());
    println!("wall_seconds: {secs:.3}");
    println!("ns_per_event: {:.1}", secs * 1e9 / events.max(1) as f64);
    println!(
        "events_per_second: {}",
        (events as f64 / secs).round() as u64
    );
}
