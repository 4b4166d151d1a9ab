//! Sizes, bandwidths and durations written as strings: "64GiB", "10Gbps", "250ms".

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

use crate::engine::SimDuration;

/// A size in bytes: "512MiB", "64GB", or a plain integer of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub u64);

/// A bandwidth in bytes per second: "10Gbps" (bits) or "500MB/s" (bytes).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Bandwidth(pub f64);

/// A duration: "250ms", "10m", "1h30m" is not accepted; one number and one unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub SimDuration);

fn split_number(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let end = s
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    let num: String = s[..end].chars().filter(|&c| c != '_').collect();
    let value: f64 = num.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    Some((value, s[end..].trim()))
}

pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let err = || {
        format!(
            "invalid size {s:?}: expected a number and a unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. \"64GiB\""
        )
    };
    let (v, unit) = split_number(s).ok_or_else(err)?;
    let mult: f64 = match unit {
        "B" | "" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(err()),
    };
    Ok((v * mult).round() as u64)
}

pub fn parse_bandwidth(s: &str) -> Result<f64, String> {
    let err = || {
        format!(
            "invalid bandwidth {s:?}: expected bits per second (Mbps, Gbps) or bytes per second (MB/s, GB/s, MiB/s, GiB/s), e.g. \"10Gbps\" or \"500MB/s\""
        )
    };
    let (v, unit) = split_number(s).ok_or_else(err)?;
    let bytes_per_s = match unit {
        "bps" => v / 8.0,
        "Kbps" => v * 1e3 / 8.0,
        "Mbps" => v * 1e6 / 8.0,
        "Gbps" => v * 1e9 / 8.0,
        "B/s" => v,
        "KB/s" => v * 1e3,
        "MB/s" => v * 1e6,
        "GB/s" => v * 1e9,
        "KiB/s" => v * 1024.0,
        "MiB/s" => v * 1024.0 * 1024.0,
        "GiB/s" => v * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(err()),
    };
    if bytes_per_s <= 0.0 {
        return Err(format!(
            "invalid bandwidth {s:?}: it must be greater than zero"
        ));
    }
    Ok(bytes_per_s)
}

pub fn parse_duration(s: &str) -> Result<SimDuration, String> {
    let err = || {
        format!(
            "invalid duration {s:?}: expected a number and a unit (ns, us, ms, s, m, h), e.g. \"250ms\" or \"10m\""
        )
    };
    let (v, unit) = split_number(s).ok_or_else(err)?;
    let secs = match unit {
        "ns" => v * 1e-9,
        "us" | "µs" => v * 1e-6,
        "ms" => v * 1e-3,
        "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(err()),
    };
    Ok(SimDuration::from_secs_f64(secs))
}

pub fn format_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

pub fn format_bandwidth(bytes_per_s: f64) -> String {
    if bytes_per_s >= 1e9 {
        format!("{:.2} GB/s", bytes_per_s / 1e9)
    } else {
        format!("{:.1} MB/s", bytes_per_s / 1e6)
    }
}

struct StrOrInt<T>(&'static str, fn(&str) -> Result<T, String>);

impl<'de, T> Visitor<'de> for StrOrInt<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.1)(v).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        if v < 0 {
            return Err(E::custom(format!("{v} is negative; {} cannot be", self.0)));
        }
        (self.1)(&v.to_string()).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrOrInt("a size such as \"64GiB\"", |s| {
            parse_bytes(s).map(Bytes)
        }))
    }
}

impl<'de> Deserialize<'de> for Bandwidth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrOrInt("a bandwidth such as \"10Gbps\"", |s| {
            parse_bandwidth(s).map(Bandwidth)
        }))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrOrInt("a duration such as \"250ms\"", |s| {
            parse_duration(s).map(Duration)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("64GiB").unwrap(), 64 << 30);
        assert_eq!(parse_bytes("1000GB").unwrap(), 1_000_000_000_000);
        assert_eq!(parse_bytes("512MiB").unwrap(), 536_870_912);
        assert!(parse_bytes("64GIB").unwrap_err().contains("GiB"));
        assert!(parse_bytes("GiB").is_err());
    }

    #[test]
    fn bandwidths() {
        assert_eq!(parse_bandwidth("10Gbps").unwrap(), 1.25e9);
        assert_eq!(parse_bandwidth("500MB/s").unwrap(), 5e8);
        assert!(parse_bandwidth("0Gbps").is_err());
        assert!(parse_bandwidth("10G").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("250ms").unwrap(),
            SimDuration::from_millis(250)
        );
        assert_eq!(parse_duration("10m").unwrap(), SimDuration::from_secs(600));
        assert_eq!(
            parse_duration("50us").unwrap(),
            SimDuration::from_micros(50)
        );
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("-5s").is_err());
    }
}
