//! `class.<CLASS>.count=N`: the number of hosts of a class, as a sweep or `--set` key.
//!
//! A topology lists its hosts one by one, and the users' services are often pinned to
//! one host each (`node.labels.query3==true`). Changing the count therefore edits the
//! topology text the way a team would:
//!
//! - **More hosts**: each new host copies the last host of the class; its name and
//!   address get the next free number (`query5` -> `query6`, `10.0.0.25` -> `10.0.0.26`),
//!   and labels that name the copied host are renamed. Every service pinned to the
//!   copied host (a constraint naming its hostname or one of its renamed labels) is
//!   copied too, renamed and pinned to the new host.
//! - **Fewer hosts**: the last hosts of the class are removed, and with them every
//!   service that only a removed host could run.
//!
//! The result is ordinary topology text, so it is validated, placed and recorded in
//! the manifest like any other.

use toml_edit::{DocumentMut, Item, Table, Value};

/// Largest count accepted (a guard against typos, not a model limit).
pub const MAX_HOSTS_PER_CLASS: usize = 1000;

/// Applies `class.<class>.count = n` to topology text.
pub fn scale_class(text: &str, class: &str, n: usize) -> Result<String, String> {
    if n == 0 || n > MAX_HOSTS_PER_CLASS {
        return Err(format!(
            "class.{class}.count = {n}: give between 1 and {MAX_HOSTS_PER_CLASS} hosts"
        ));
    }
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| format!("the topology is not valid TOML: {e}"))?;
    let hosts_of_class: Vec<usize> = hosts(&doc)?
        .iter()
        .enumerate()
        .filter(|(_, t)| t.get("class").and_then(Item::as_str) == Some(class))
        .map(|(i, _)| i)
        .collect();
    let Some(&last) = hosts_of_class.last() else {
        return Err(format!(
            "class.{class}.count: the topology has no host of class {class:?} to copy"
        ));
    };
    let have = hosts_of_class.len();
    if n < have {
        for &i in hosts_of_class[n..].iter().rev() {
            let removed = host_table(&doc, i)?.clone();
            hosts_mut(&mut doc)?.remove(i);
            drop_pinned_services(&mut doc, &removed)?;
        }
    } else {
        let template = host_table(&doc, last)?.clone();
        let template_name = name_of(&template)?;
        let mut previous = template_name.clone();
        for _ in have..n {
            let name = next_free(&doc, &previous, host_named)?;
            let address = next_address(&doc, &template)?;
            let mut host = template.clone();
            host["name"] = toml_edit::value(name.clone());
            host["address"] = toml_edit::value(address);
            rename_labels(&mut host, &template_name, &name);
            hosts_mut(&mut doc)?.push(host);
            copy_pinned_services(&mut doc, &template_name, &name)?;
            previous = name;
        }
    }
    Ok(doc.to_string())
}

fn hosts(doc: &DocumentMut) -> Result<&toml_edit::ArrayOfTables, String> {
    doc.get("host")
        .and_then(Item::as_array_of_tables)
        .ok_or_else(|| "the topology has no [[host]] entries".to_string())
}

fn hosts_mut(doc: &mut DocumentMut) -> Result<&mut toml_edit::ArrayOfTables, String> {
    doc.get_mut("host")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| "the topology has no [[host]] entries".to_string())
}

fn host_table(doc: &DocumentMut, i: usize) -> Result<&Table, String> {
    hosts(doc)?
        .get(i)
        .ok_or_else(|| format!("no host number {i}"))
}

fn name_of(t: &Table) -> Result<String, String> {
    t.get("name")
        .and_then(Item::as_str)
        .map(str::to_string)
        .ok_or_else(|| "a [[host]] has no name".to_string())
}

fn host_named(doc: &DocumentMut, name: &str) -> bool {
    hosts(doc).is_ok_and(|h| {
        h.iter()
            .any(|t| t.get("name").and_then(Item::as_str) == Some(name))
    })
}

fn service_named(doc: &DocumentMut, name: &str) -> bool {
    services(doc).is_some_and(|s| {
        s.iter()
            .any(|t| t.get("name").and_then(Item::as_str) == Some(name))
    })
}

fn services(doc: &DocumentMut) -> Option<&toml_edit::ArrayOfTables> {
    doc.get("service").and_then(Item::as_array_of_tables)
}

/// `query5` -> `query6` (the next number not taken); `coord` -> `coord-2`.
fn next_free(
    doc: &DocumentMut,
    previous: &str,
    taken: impl Fn(&DocumentMut, &str) -> bool,
) -> Result<String, String> {
    let digits = previous.len()
        - previous
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .len();
    let (stem, number) = previous.split_at(previous.len() - digits);
    let (stem, mut k): (String, u64) = match number.parse::<u64>() {
        Ok(k) => (stem.to_string(), k),
        Err(_) => (format!("{previous}-"), 1),
    };
    for _ in 0..10_000 {
        k += 1;
        let candidate = format!("{stem}{k}");
        if !taken(doc, &candidate) {
            return Ok(candidate);
        }
    }
    Err(format!("no free name after {previous:?}"))
}

/// The copied host's IPv4 address with the next free last octet.
fn next_address(doc: &DocumentMut, template: &Table) -> Result<String, String> {
    let address = template
        .get("address")
        .and_then(Item::as_str)
        .ok_or("a [[host]] has no address")?;
    let (prefix, last) = address
        .rsplit_once('.')
        .ok_or_else(|| format!("cannot number addresses after {address:?}"))?;
    let mut octet: u32 = last
        .parse()
        .map_err(|_| format!("cannot number addresses after {address:?}"))?;
    let used: Vec<String> = hosts(doc)?
        .iter()
        .filter_map(|t| t.get("address").and_then(Item::as_str).map(str::to_string))
        .collect();
    loop {
        octet += 1;
        if octet > 254 {
            return Err(format!(
                "no free address after {address:?} in {prefix}.0/24; list the hosts in the topology instead"
            ));
        }
        let candidate = format!("{prefix}.{octet}");
        if !used.contains(&candidate) {
            return Ok(candidate);
        }
    }
}

/// Labels whose key or value names the copied host are renamed for the new one.
fn rename_labels(host: &mut Table, from: &str, to: &str) {
    let Some(labels) = host.get_mut("labels").and_then(Item::as_table_like_mut) else {
        return;
    };
    let pairs: Vec<(String, Item)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    labels.clear();
    for (k, mut v) in pairs {
        if let Some(s) = v.as_str() {
            if names(s, from) {
                v = toml_edit::value(rename(s, from, to));
            }
        }
        labels.insert(&rename(&k, from, to), v);
    }
}

/// Whether a service's constraints name `host` (by hostname or by a label that names
/// it).
fn pinned_to(service: &Table, host: &str) -> bool {
    constraints(service).iter().any(|c| names(c, host))
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '_'
}

/// Whether `text` has `word` as a whole token (`query1` is not in `query10`).
fn names(text: &str, word: &str) -> bool {
    text.split(|c: char| !is_word_char(c)).any(|t| t == word)
}

/// Replaces whole-token occurrences of `from` by `to`.
fn rename(text: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut token = String::new();
    for c in text.chars().chain(std::iter::once('\0')) {
        if is_word_char(c) {
            token.push(c);
            continue;
        }
        out.push_str(if token == from { to } else { &token });
        token.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

fn constraints(service: &Table) -> Vec<String> {
    service
        .get("constraints")
        .and_then(Item::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn copy_pinned_services(doc: &mut DocumentMut, from: &str, to: &str) -> Result<(), String> {
    let Some(list) = services(doc) else {
        return Ok(());
    };
    let pinned: Vec<Table> = list
        .iter()
        .filter(|s| pinned_to(s, from))
        .cloned()
        .collect();
    for mut s in pinned {
        let old = name_of(&s)?;
        let name = if names(&old, from) {
            rename(&old, from, to)
        } else {
            next_free(doc, &old, service_named)?
        };
        s["name"] = toml_edit::value(name);
        let mut array = toml_edit::Array::new();
        for c in constraints(&s) {
            array.push(Value::from(rename(&c, from, to)));
        }
        s["constraints"] = toml_edit::value(array);
        doc.get_mut("service")
            .and_then(Item::as_array_of_tables_mut)
            .expect("listed above")
            .push(s);
    }
    Ok(())
}

fn drop_pinned_services(doc: &mut DocumentMut, removed: &Table) -> Result<(), String> {
    let name = name_of(removed)?;
    let Some(list) = doc
        .get_mut("service")
        .and_then(Item::as_array_of_tables_mut)
    else {
        return Ok(());
    };
    let pinned: Vec<usize> = list
        .iter()
        .enumerate()
        .filter(|(_, s)| pinned_to(s, &name))
        .map(|(i, _)| i)
        .collect();
    for i in pinned.into_iter().rev() {
        list.remove(i);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPO: &str = r#"
[[host]]
name = "query1"
address = "10.0.0.11"
class = "query"
labels = { query1 = "true" }

[[host]]
name = "query2"
address = "10.0.0.12"
class = "query"
labels = { query2 = "true" }

[[host]]
name = "coord1"
address = "10.0.0.21"
class = "coord"

[[service]]
name = "query1"
constraints = ["node.labels.query1==true"]

[[service]]
name = "query2"
constraints = ["node.labels.query2==true"]

[[service]]
name = "rootcoord"
constraints = ["node.labels.coord==true"]
"#;

    fn entries(text: &str, table: &str) -> Vec<String> {
        let doc: toml::Table = toml::from_str(text).unwrap();
        doc[table]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn more_hosts_copy_the_last_one_and_its_pinned_services() {
        let out = scale_class(TOPO, "query", 4).unwrap();
        // New tables follow the last of their kind in the text.
        assert_eq!(
            entries(&out, "host"),
            ["query1", "query2", "query3", "query4", "coord1"]
        );
        assert_eq!(
            entries(&out, "service"),
            ["query1", "query2", "query3", "query4", "rootcoord"]
        );
        let doc: toml::Table = toml::from_str(&out).unwrap();
        let q4 = &doc["host"].as_array().unwrap()[3];
        assert_eq!(q4["address"].as_str(), Some("10.0.0.14"));
        assert_eq!(q4["labels"]["query4"].as_str(), Some("true"));
        let s4 = &doc["service"].as_array().unwrap()[3];
        assert_eq!(
            s4["constraints"].as_array().unwrap()[0].as_str(),
            Some("node.labels.query4==true")
        );
    }

    #[test]
    fn fewer_hosts_drop_the_last_ones_and_what_only_they_ran() {
        let out = scale_class(TOPO, "query", 1).unwrap();
        assert_eq!(entries(&out, "host"), ["query1", "coord1"]);
        assert_eq!(entries(&out, "service"), ["query1", "rootcoord"]);
    }

    #[test]
    fn names_are_whole_tokens() {
        assert!(names("node.labels.query1==true", "query1"));
        assert!(!names("node.labels.query10==true", "query1"));
        assert_eq!(
            rename("node.hostname==query1", "query1", "query3"),
            "node.hostname==query3"
        );
        assert_eq!(rename("query10", "query1", "query3"), "query10");
    }

    #[test]
    fn the_same_count_changes_nothing_and_bad_counts_are_errors() {
        assert_eq!(
            entries(&scale_class(TOPO, "query", 2).unwrap(), "host"),
            ["query1", "query2", "coord1"]
        );
        assert!(scale_class(TOPO, "query", 0).is_err());
        assert!(scale_class(TOPO, "gpu", 2)
            .unwrap_err()
            .contains("no host of class"));
    }
}
