//! Milvus configuration keys simctl models, with their 2.3 defaults.
//!
//! Experiments override them by their `milvus.yaml` names under `[milvus]`. Every
//! default cites reference/milvus-2.3.md; a key that is not listed here is rejected,
//! because silently accepting a setting the model ignores would mislead.

use std::collections::BTreeMap;

/// One modelled key: its 2.3 default, the range simctl accepts, unit and source.
pub struct Key {
    pub name: &'static str,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    pub unit: &'static str,
    pub source: &'static str,
}

const fn key(
    name: &'static str,
    default: f64,
    min: f64,
    max: f64,
    unit: &'static str,
    source: &'static str,
) -> Key {
    Key {
        name,
        default,
        min,
        max,
        unit,
        source,
    }
}

pub const KEYS: &[Key] = &[
    key(
        "dataCoord.segment.maxSize",
        512.0,
        1.0,
        65536.0,
        "MB",
        "§1.5: max rows = maxSize / row size",
    ),
    key(
        "proxy.maxTaskNum",
        1024.0,
        1.0,
        1e6,
        "tasks",
        "§1.4: length of each proxy task queue",
    ),
    key(
        "proxy.timeTickInterval",
        200.0,
        1.0,
        60_000.0,
        "ms",
        "§1.1: rootcoord time-tick period",
    ),
    key(
        "proxy.shardLeaderCacheInterval",
        10.0,
        0.001,
        3600.0,
        "s",
        "§1.4: shard-leader cache goes stale",
    ),
    key(
        "common.gracefulTime",
        5000.0,
        0.0,
        86_400_000.0,
        "ms",
        "§1.1: Bounded staleness window",
    ),
    key(
        "queryNode.scheduler.maxReadConcurrentRatio",
        1.0,
        0.01,
        100.0,
        "x cores",
        "§1.8: concurrent read tasks per QN",
    ),
    key(
        "queryNode.scheduler.scheduleReadPolicy.maxPendingTask",
        10240.0,
        0.0,
        1e7,
        "tasks",
        "§1.8: queued read tasks per QN",
    ),
    key(
        "queryNode.segcore.cgoPoolSizeRatio",
        2.0,
        0.01,
        100.0,
        "x cores",
        "§1.8: cgo search pool per QN",
    ),
    key(
        "queryCoord.overloadedMemoryThresholdPercentage",
        90.0,
        1.0,
        100.0,
        "%",
        "§1.7/§1.8: load guard",
    ),
    key(
        "queryCoord.globalRowCountFactor",
        0.1,
        0.0,
        10.0,
        "",
        "§1.7: score-based balancer",
    ),
];

#[derive(Clone, Debug, PartialEq)]
pub enum SetError {
    Unknown,
    OutOfRange {
        min: f64,
        max: f64,
        unit: &'static str,
    },
}

/// Resolved Milvus settings for one run.
#[derive(Clone, Debug, PartialEq)]
pub struct MilvusConfig {
    values: BTreeMap<&'static str, f64>,
}

impl Default for MilvusConfig {
    fn default() -> Self {
        MilvusConfig {
            values: KEYS.iter().map(|k| (k.name, k.default)).collect(),
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

    /// Sets a key. Errors say why: the key is not modelled, or the value is out of
    /// the range simctl accepts for it.
    pub fn set(&mut self, key: &str, value: f64) -> Result<(), SetError> {
        let k = KEYS
            .iter()
            .find(|k| k.name == key)
            .ok_or(SetError::Unknown)?;
        if !(value >= k.min && value <= k.max) {
            return Err(SetError::OutOfRange {
                min: k.min,
                max: k.max,
                unit: k.unit,
            });
        }
        self.values.insert(k.name, value);
        Ok(())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        self.values.iter().map(|(k, v)| (*k, *v))
    }
}
