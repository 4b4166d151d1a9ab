//! Reading TOML files into typed structs with located errors.

use serde::de::DeserializeOwned;
use std::path::Path;

use super::error::InputError;

/// Reads `path` into a string, as an error located at `referenced_from` when given
/// (the line of another file that named it).
pub fn read_file(path: &Path, referenced_from: Option<InputError>) -> Result<String, InputError> {
    std::fs::read_to_string(path).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ => e.to_string(),
        };
        match referenced_from {
            Some(mut at) => {
                at.message = format!("cannot read {}: {reason}", path.display());
                at.with_hint("paths are relative to the file that names them; check the path or create the file")
            }
            None => InputError {
                file: path.to_path_buf(),
                line: 1,
                column: 1,
                message: format!("cannot read the file: {reason}"),
                hint: Some("check the path".into()),
            },
        }
    })
}

/// Parses TOML text into `T`, turning syntax and schema errors into located errors.
pub fn parse_toml<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    what: &str,
) -> Result<T, InputError> {
    toml::from_str(text).map_err(|e| {
        let msg = e.message().trim().to_string();
        let hint = if msg.starts_with("unknown field") {
            format!("remove the key or fix its spelling; the README lists every key of {what} files")
        } else if msg.starts_with("missing field") {
            format!("add the key; the README lists the required keys of {what} files")
        } else if ["invalid type", "invalid value", "invalid length", "invalid size", "invalid bandwidth", "invalid duration"]
            .iter()
            .any(|p| msg.starts_with(p))
        {
            "fix the value as the message says".to_string()
        } else {
            format!("this is not valid TOML or not the shape of {} {what} file; compare with the shipped examples",
                if what.starts_with(|c| "aeiou".contains(c)) { "an" } else { "a" })
        };
        InputError::at(path, text, e.span(), msg).with_hint(hint)
    })
}
