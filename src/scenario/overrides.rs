//! `--set KEY=VALUE`: overriding any scalar of an experiment from the command line.

use toml_edit::{DocumentMut, Item, Value};

/// Applies `KEY=VALUE` overrides to the experiment's TOML text, keeping its layout
/// (and so its line numbers) wherever a value is replaced in place.
///
/// KEY is a dotted path (`workload.search_qps`); under `milvus` the rest of the path is
/// one Milvus key (`milvus.proxy.maxTaskNum`). VALUE is read as a TOML value when it is
/// one (`2000`, `0.5`, `true`, `"10m"`) and as a string otherwise (`10m`).
pub fn apply(text: &str, sets: &[String]) -> Result<String, String> {
    if sets.is_empty() {
        return Ok(text.to_string());
    }
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| format!("the experiment is not valid TOML: {e}"))?;
    for set in sets {
        let (key, raw) = set.split_once('=').ok_or_else(|| {
            format!("--set {set:?}: expected KEY=VALUE, e.g. --set workload.search_qps=2000")
        })?;
        let key = key.trim();
        let path: Vec<&str> = match key.split_once('.') {
            Some(("milvus", rest)) => vec!["milvus", rest],
            _ => key.split('.').collect(),
        };
        if path.iter().any(|p| p.is_empty()) {
            return Err(format!("--set {set:?}: the key has an empty part"));
        }
        let value: Value = raw
            .trim()
            .parse::<Value>()
            .unwrap_or_else(|_| Value::from(raw.trim()));
        let (last, tables) = path.split_last().expect("non-empty path");
        let mut table: &mut dyn toml_edit::TableLike = doc.as_table_mut();
        let mut parts = tables.iter().peekable();
        while let Some(part) = parts.next() {
            if table.get(part).is_none() {
                table.insert(part, Item::Table(toml_edit::Table::new()));
            }
            let item = table.get_mut(part).expect("just inserted");
            table = match item {
                // `fault.0.at`: an entry of an array of tables, by index.
                Item::ArrayOfTables(aot) => {
                    let len = aot.len();
                    let index = parts.next().ok_or_else(|| format!("--set {set:?}: {part:?} is a list of tables; name an entry, e.g. {part}.0.KEY"))?;
                    let i: usize = index.parse().map_err(|_| {
                        format!("--set {set:?}: {part:?} is a list of tables; {index:?} is not an index")
                    })?;
                    aot.get_mut(i).ok_or_else(|| {
                        format!(
                            "--set {set:?}: {part:?} has {len} entries, so there is no entry {i}"
                        )
                    })?
                }
                other => other.as_table_like_mut().ok_or_else(|| {
                    format!("--set {set:?}: {part:?} is inside a value, not a table")
                })?,
            };
        }
        if let Some(existing) = table.get_mut(last) {
            if existing.is_table_like() || existing.is_array_of_tables() {
                return Err(format!(
                    "--set {set:?}: {key} is a table; --set changes scalars only"
                ));
            }
            // Keep the original decoration so comments and layout survive.
            let decor = existing.as_value().map(|v| v.decor().clone());
            let mut v = value;
            if let Some(d) = decor {
                *v.decor_mut() = d;
            }
            *existing = Item::Value(v);
        } else {
            table.insert(last, Item::Value(value));
        }
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_in_place_and_keeps_line_numbers() {
        let text = "duration = \"10m\" # run length\n[workload]\nsearch_qps = 1000\n";
        let out = apply(
            text,
            &["workload.search_qps=2000".into(), "duration=30s".into()],
        )
        .unwrap();
        assert_eq!(
            out,
            "duration = \"30s\" # run length\n[workload]\nsearch_qps = 2000\n"
        );
    }

    #[test]
    fn milvus_keys_keep_their_dots() {
        let out = apply("[milvus]\n", &["milvus.proxy.maxTaskNum=512".into()]).unwrap();
        let doc: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(doc["milvus"]["proxy.maxTaskNum"].as_integer(), Some(512));
    }

    #[test]
    fn entries_of_table_arrays_are_reached_by_index() {
        let text = "[[fault]]\nat = \"10m\"\n[[fault]]\nat = \"20m\"\n";
        let out = apply(text, &["fault.1.at=5m".into()]).unwrap();
        assert_eq!(out, "[[fault]]\nat = \"10m\"\n[[fault]]\nat = \"5m\"\n");
        assert!(apply(text, &["fault.2.at=5m".into()])
            .unwrap_err()
            .contains("2 entries"));
        assert!(apply(text, &["fault.x.at=5m".into()]).is_err());
    }

    #[test]
    fn malformed_sets_are_errors() {
        assert!(apply("a = 1\n", &["a".into()]).is_err());
        assert!(apply("[t]\nx = 1\n", &["t=5".into()]).is_err());
    }
}
