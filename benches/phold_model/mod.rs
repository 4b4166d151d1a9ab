//! The PHOLD model on simctl's engine, shared by `examples/phold.rs` (which includes
//! this file with `#[path]`) and `benches/engine.rs`.
//!
//! PHOLD: `lps` logical processes each start with `population` pending events. On
//! every event an LP sends exactly one new event, so the number of pending events
//! stays constant. The new event goes to a uniformly random *other* LP with
//! probability `remote` (to itself otherwise) and is delayed by
//! `lookahead + Exp(mean_delay)`. All draws come from the receiving LP's own stream
//! (`ctx.rng()`), so a run is a pure function of its arguments.

// Each including crate uses a different subset of this file.
#![allow(dead_code)]

use std::time::Instant;

use clap::Parser;
use rand::RngExt;
use simctl::engine::rng::{self, exponential};
use simctl::engine::{Actor, ActorId, Ctx, SimDuration, SimTime, Simulation, NS_PER_US};

/// PHOLD parameters (also the command line of `examples/phold.rs`).
#[derive(Parser, Clone, Debug)]
#[command(about = "PHOLD discrete-event benchmark on simctl's engine")]
pub struct Args {
    /// Number of logical processes (one actor each).
    #[arg(long, default_value_t = 1024)]
    pub lps: u32,
    /// Initial pending events per LP.
    #[arg(long, default_value_t = 16)]
    pub population: u32,
    /// Probability that an event is sent to a uniformly random other LP.
    #[arg(long, default_value_t = 0.5)]
    pub remote: f64,
    /// Stop after this many processed events.
    #[arg(long, default_value_t = 20_000_000)]
    pub events: u64,
    /// Mean of the exponential part of the delay, in microseconds.
    #[arg(long, default_value_t = 1.0)]
    pub mean_delay_us: f64,
    /// Fixed minimum delay (lookahead), in microseconds.
    #[arg(long, default_value_t = 0.1)]
    pub lookahead_us: f64,
    /// Run seed (keys every LP's random stream).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl Default for Args {
    fn default() -> Self {
        Args::parse_from(["phold"])
    }
}

/// The message: PHOLD events carry no payload.
#[derive(Clone, Copy, Debug)]
pub struct Ev;

/// Parameters every LP reads; held once in the simulation's world.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    pub lps: u32,
    pub remote: f64,
    pub mean_delay_ns: f64,
    pub lookahead_ns: u64,
}

/// One logical process. It only counts what it received.
#[derive(Default, Debug)]
pub struct Lp {
    pub received: u64,
}

impl Actor for Lp {
    type Msg = Ev;
    type World = Params;

    #[inline]
    fn on_message(&mut self, _msg: Ev, ctx: &mut Ctx<'_, Ev, Params>) {
        self.received += 1;
        let p = *ctx.world;
        let me = ctx.me().0;
        let rng = ctx.rng();
        let to = if p.lps > 1 && rng.random::<f64>() < p.remote {
            // Uniform over the other lps - 1 LPs.
            let r = rng.random_range(0..p.lps - 1);
            if r >= me {
                r + 1
            } else {
                r
            }
        } else {
            me
        };
        let exp_ns = exponential(rng, p.mean_delay_ns);
        let delay = SimDuration::from_nanos(p.lookahead_ns + (exp_ns + 0.5) as u64);
        ctx.send(ActorId(to), Ev, delay);
    }
}

fn us_to_ns(us: f64) -> f64 {
    us * NS_PER_US as f64
}

/// Builds the PHOLD simulation: `lps` actors and `lps * population` initial events
/// at `lookahead + Exp(mean)` from time zero (drawn from a dedicated init stream).
pub fn build(args: &Args) -> Simulation<Lp> {
    assert!(args.lps >= 1, "--lps must be at least 1");
    assert!(
        (0.0..=1.0).contains(&args.remote),
        "--remote must be in [0, 1]"
    );
    let params = Params {
        lps: args.lps,
        remote: args.remote,
        mean_delay_ns: us_to_ns(args.mean_delay_us),
        lookahead_ns: us_to_ns(args.lookahead_us).round() as u64,
    };
    let mut sim = Simulation::new(args.seed, params);
    for i in 0..args.lps {
        sim.add_actor(format!("lp{i}"), Lp::default());
    }
    let mut init = rng::stream(args.seed, "phold-init");
    for i in 0..args.lps {
        for _ in 0..args.population {
            let exp_ns = exponential(&mut init, params.mean_delay_ns);
            let at = SimTime(params.lookahead_ns + (exp_ns + 0.5) as u64);
            sim.schedule(at, ActorId(i), Ev);
        }
    }
    sim
}

/// Processes exactly `n` more events (PHOLD never runs dry unless population is 0).
#[inline]
pub fn run_events(sim: &mut Simulation<Lp>, n: u64) -> u64 {
    let target = sim.events_processed() + n;
    while sim.events_processed() < target {
        if !sim.step() {
            break;
        }
    }
    sim.events_processed()
}

/// Builds and runs PHOLD for `args.events` events. Returns (events processed,
/// seconds spent in the event loop); building the model is not timed.
pub fn run_phold(args: &Args) -> (u64, f64) {
    let mut sim = build(args);
    let start = Instant::now();
    let events = run_events(&mut sim, args.events);
    let secs = start.elapsed().as_secs_f64();
    (events, secs)
}
