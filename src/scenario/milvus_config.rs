//! Milvus configuration keys simctl models, with their 2.3 defaults.
//!
//! Experiments override them by their `milvus.yaml` names under `[milvus]`. Every
//! default cites reference/milvus-2.3.md; a key that is not listed here is rejected,
//! because silently accepting a setting the model ignores would mislead.

use std::collections::BTreeMap;

/// (key, default, unit, source).
pub const KEYS: &[(&str, f64, &str, &str)] = &[
    (
        "dataCoord.segment.maxSize",
        512.0,
        "MB",
        "§1.5: max rows = maxSize / row size",
    ),
    (
        "proxy.maxTaskNum",
        1024.0,
        "tasks",
        "§1.4: length of each proxy task queue",
    ),
    (
        "proxy.timeTickInterval",
        200.0,
        "ms",
        "§1.1: rootcoord time-tick period",
    ),
    (
        "proxy.shardLeaderCacheInterval",
        10.0,
        "s",
        "§1.4: shard-leader cache goes stale",
    ),
    (
        "common.gracefulTime",
        5000.0,
        "ms",
        "§1.1: Bounded staleness window",
    ),
    (
        "queryNode.scheduler.maxReadConcurrentRatio",
        1.0,
        "x cores",
        "§1.8: concurrent read tasks per QN",
    ),
    (
        "queryNode.scheduler.scheduleReadPolicy.maxPendingTask",
        10240.0,
        "tasks",
        "§1.8: queued read tasks per QN",
    ),
    (
        "queryNode.segcore.cgoPoolSizeRatio",
        2.0,
        "x cores",
        "§1.8: cgo search pool per QN",
    ),
    (
        "queryCoord.overloadedMemoryThresholdPercentage",
        90.0,
        "%",
        "§1.7/§1.8: load guard",
    ),
    (
        "queryCoord.globalRowCountFactor",
        0.1,
        "",
        "§1.7: score-based balancer",
    ),
];

/// Resolved Milvus settings for one run.
#[derive(Clone, Debug, PartialEq)]
pub struct MilvusConfig {
    values: BTreeMap<&'static str, f64>,
}

impl Default for MilvusConfig {
    fn default() -> Self {
        MilvusConfig {
            values: KEYS.iter().map(|(k, v, _, _)| (*k, *v)).collect(),
        }
    }
}

impl MilvusConfig {
    /// The value of a known key. Panics on an unknown key: that is a programming
    /// error, since every key the model reads must be listed in `KEYS`.
    pub fn get(&self, key: &str) -> f64 {
        *self.values.get(key).unwrap_or_else(|| {
            panic!("Milvus key {key:?} is read by the model but not listed in KEYS")
        })
    }

    /// Sets a key; returns false if simctl does not model it.
    pub fn set(&mut self, key: &str, value: f64) -> bool {
        match KEYS.iter().find(|(k, ..)| *k == key) {
            Some((k, ..)) => {
                self.values.insert(k, value);
                true
            }
            None => false,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        self.values.iter().map(|(k, v)| (*k, *v))
    }
}
