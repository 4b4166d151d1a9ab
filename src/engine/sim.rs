//! The event loop: actors, their context, and the run.

use std::collections::BTreeMap;

use super::queue::{EventId, EventQueue};
use super::rng::{self, SimRng};
use super::time::{SimDuration, SimTime};

/// Index of an actor in its simulation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActorId(pub u32);

impl ActorId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A simulated component. It reacts to typed messages and acts only through its
/// context: it sends, sets timers, draws randomness and records into the world.
///
/// `World` is state that several actors share (hosts and their resources, the
/// recorder). It is handed out one actor at a time, so no locking is involved.
pub trait Actor {
    type Msg;
    type World;
    fn on_message(&mut self, msg: Self::Msg, ctx: &mut Ctx<'_, Self::Msg, Self::World>);
}

/// Named counters any actor may bump; ordered, so reports are deterministic.
#[derive(Default, Debug, Clone)]
pub struct Counters(BTreeMap<&'static str, u64>);

impl Counters {
    pub fn add(&mut self, name: &'static str, n: u64) {
        *self.0.entry(name).or_insert(0) += n;
    }
    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.0.iter().map(|(k, v)| (*k, *v))
    }
}

/// What an actor can do while handling one message.
pub struct Ctx<'a, M, W> {
    now: SimTime,
    me: ActorId,
    queue: &'a mut EventQueue<M>,
    pub world: &'a mut W,
    rng: &'a mut SimRng,
    counters: &'a mut Counters,
}

impl<M, W> Ctx<'_, M, W> {
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }
    #[inline]
    pub fn me(&self) -> ActorId {
        self.me
    }
    /// Delivers `msg` to `to` after `delay`.
    #[inline]
    pub fn send(&mut self, to: ActorId, msg: M, delay: SimDuration) {
        self.queue.push(self.now, self.now + delay, to.0, msg);
    }
    /// Delivers `msg` to `to` at `at` (clamped to now: nothing is scheduled in the past).
    #[inline]
    pub fn send_at(&mut self, to: ActorId, msg: M, at: SimTime) {
        let at = at.max(self.now);
        self.queue.push(self.now, at, to.0, msg);
    }
    /// Delivers `msg` to this actor after `delay`; the id cancels it.
    #[inline]
    pub fn set_timer(&mut self, delay: SimDuration, msg: M) -> EventId {
        self.queue.push(self.now, self.now + delay, self.me.0, msg)
    }
    /// Delivers `msg` to this actor at `at`; the id cancels it.
    #[inline]
    pub fn set_timer_at(&mut self, at: SimTime, msg: M) -> EventId {
        let at = at.max(self.now);
        self.queue.push(self.now, at, self.me.0, msg)
    }
    pub fn cancel_timer(&mut self, id: EventId) {
        self.queue.cancel(id);
    }
    /// This actor's own random stream (seeded from the run seed and its name).
    #[inline]
    pub fn rng(&mut self) -> &mut SimRng {
        self.rng
    }
    pub fn count(&mut self, name: &'static str, n: u64) {
        self.counters.add(name, n);
    }
}

/// A deterministic discrete-event simulation over actors of type `A`.
pub struct Simulation<A: Actor> {
    seed: u64,
    now: SimTime,
    actors: Vec<A>,
    names: Vec<String>,
    rngs: Vec<SimRng>,
    queue: EventQueue<A::Msg>,
    world: A::World,
    counters: Counters,
    events: u64,
}

impl<A: Actor> Simulation<A> {
    pub fn new(seed: u64, world: A::World) -> Self {
        Simulation {
            seed,
            now: SimTime::ZERO,
            actors: Vec::new(),
            names: Vec::new(),
            rngs: Vec::new(),
            queue: EventQueue::default(),
            world,
            counters: Counters::default(),
            events: 0,
        }
    }

    /// Adds an actor. Names must be unique: they key the actor's random stream.
    pub fn add_actor(&mut self, name: impl Into<String>, actor: A) -> ActorId {
        let name = name.into();
        assert!(
            !self.names.contains(&name),
            "actor name {name:?} registered twice; names key the random streams and must be unique"
        );
        assert!(
            (self.actors.len() as u64) < super::queue::MAX_TARGETS,
            "more than 2^24 actors"
        );
        let id = ActorId(self.actors.len() as u32);
        self.rngs.push(rng::stream(self.seed, &name));
        self.names.push(name);
        self.actors.push(actor);
        id
    }

    /// Queues a message from outside the simulation (initial events).
    pub fn schedule(&mut self, at: SimTime, to: ActorId, msg: A::Msg) -> EventId {
        self.queue.push(self.now, at.max(self.now), to.0, msg)
    }

    /// Processes the next event. Returns false when no event is left.
    #[inline]
    pub fn step(&mut self) -> bool {
        match self.queue.pop() {
            Some(e) => {
                self.dispatch(e);
                true
            }
            None => false,
        }
    }

    #[inline]
    fn dispatch(&mut self, e: super::queue::Entry<A::Msg>) {
        debug_assert!(e.time >= self.now, "time went backwards");
        self.now = e.time;
        self.events += 1;
        let target = e.target();
        let i = target as usize;
        let mut ctx = Ctx {
            now: e.time,
            me: ActorId(target),
            queue: &mut self.queue,
            world: &mut self.world,
            rng: &mut self.rngs[i],
            counters: &mut self.counters,
        };
        self.actors[i].on_message(e.msg, &mut ctx);
    }

    /// Processes every event up to and including `until`, then sets the clock to
    /// `until`. Returns the number of events processed.
    pub fn run_until(&mut self, until: SimTime) -> u64 {
        let before = self.events;
        while let Some(e) = self.queue.pop_due(until) {
            self.dispatch(e);
        }
        if until > self.now {
            self.now = until;
        }
        self.events - before
    }

    pub fn now(&self) -> SimTime {
        self.now
    }
    pub fn events_processed(&self) -> u64 {
        self.events
    }
    pub fn pending_events(&self) -> usize {
        self.queue.len()
    }
    pub fn world(&self) -> &A::World {
        &self.world
    }
    pub fn world_mut(&mut self) -> &mut A::World {
        &mut self.world
    }
    pub fn actor(&self, id: ActorId) -> &A {
        &self.actors[id.index()]
    }
    pub fn actors(&self) -> impl Iterator<Item = (ActorId, &str, &A)> {
        self.actors
            .iter()
            .zip(&self.names)
            .enumerate()
            .map(|(i, (a, n))| (ActorId(i as u32), n.as_str(), a))
    }
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    pub fn into_world(self) -> A::World {
        self.world
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two actors bounce a ball; each records when it saw it.
    struct Player {
        other: Option<ActorId>,
        seen: Vec<u64>,
    }
    impl Actor for Player {
        type Msg = u32;
        type World = u32;
        fn on_message(&mut self, hits: u32, ctx: &mut Ctx<'_, u32, u32>) {
            self.seen.push(ctx.now().0);
            *ctx.world += 1;
            if hits < 5 {
                let other = self.other.unwrap();
                ctx.send(other, hits + 1, SimDuration::from_nanos(10));
            }
        }
    }

    #[test]
    fn messages_arrive_after_their_delay_in_order() {
        let mut sim = Simulation::new(1, 0u32);
        let a = sim.add_actor(
            "a",
            Player {
                other: None,
                seen: vec![],
            },
        );
        let b = sim.add_actor(
            "b",
            Player {
                other: Some(a),
                seen: vec![],
            },
        );
        sim.actors[a.index()].other = Some(b);
        sim.schedule(SimTime(0), a, 0);
        sim.run_until(SimTime(1_000));
        assert_eq!(sim.actor(a).seen, vec![0, 20, 40]);
        assert_eq!(sim.actor(b).seen, vec![10, 30, 50]);
        assert_eq!(*sim.world(), 6);
        assert_eq!(sim.events_processed(), 6);
        assert_eq!(sim.now(), SimTime(1_000));
    }

    struct Sleeper {
        woke: Vec<u32>,
    }
    impl Actor for Sleeper {
        type Msg = u32;
        type World = ();
        fn on_message(&mut self, m: u32, ctx: &mut Ctx<'_, u32, ()>) {
            self.woke.push(m);
            if m == 0 {
                let t1 = ctx.set_timer(SimDuration::from_nanos(5), 1);
                ctx.set_timer(SimDuration::from_nanos(6), 2);
                ctx.cancel_timer(t1);
            }
        }
    }

    #[test]
    fn cancelled_timers_never_fire() {
        let mut sim = Simulation::new(1, ());
        let s = sim.add_actor("s", Sleeper { woke: vec![] });
        sim.schedule(SimTime(0), s, 0);
        sim.run_until(SimTime(100));
        assert_eq!(sim.actor(s).woke, vec![0, 2]);
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn duplicate_names_are_rejected() {
        let mut sim: Simulation<Sleeper> = Simulation::new(1, ());
        sim.add_actor("x", Sleeper { woke: vec![] });
        sim.add_actor("x", Sleeper { woke: vec![] });
    }
}
