//! One fleet change as it travels: the record writes of one admin change, encoded as the
//! JSON of a change-log entry (and decoded back into [`Write`]s).

use serde::{Deserialize, Serialize};

use crate::admin::state::kind;
use crate::admin::Write;

/// A write as the change log keeps it. Bodies are the records' JSON text.
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum LogWrite {
    Put { kind: String, id: String, body: String },
    Remove { kind: String, id: String },
}

/// The hash field of a record: `kind/id` (neither holds a `/`).
pub fn field(kind: &str, id: &str) -> String {
    format!("{kind}/{id}")
}

/// Splits a [`field`] back into its kind and ID.
pub fn split_field(field: &str) -> Option<(&str, &str)> {
    field.split_once('/')
}

/// The change-log JSON of `writes`.
pub fn encode(writes: &[Write]) -> String {
    let entries: Vec<LogWrite> = writes
        .iter()
        .map(|w| match w {
            Write::Put { kind, id, body } => LogWrite::Put {
                kind: kind.to_string(),
                id: id.clone(),
                body: String::from_utf8_lossy(body).into_owned(),
            },
            Write::Remove { kind, id } => LogWrite::Remove {
                kind: kind.to_string(),
                id: id.clone(),
            },
        })
        .collect();
    serde_json::to_string(&entries).unwrap_or_else(|_| "[]".into())
}

/// The writes of a change-log entry. Kinds this version does not know (a newer member's
/// records) are left out: they stay in Redis, and this version has no use for them.
pub fn decode(json: &[u8]) -> Result<Vec<Write>, serde_json::Error> {
    let entries: Vec<LogWrite> = serde_json::from_slice(json)?;
    Ok(entries
        .into_iter()
        .filter_map(|e| match e {
            LogWrite::Put { kind, id, body } => kind::known(&kind).map(|kind| Write::Put {
                kind,
                id,
                body: body.into_bytes(),
            }),
            LogWrite::Remove { kind, id } => kind::known(&kind).map(|kind| Write::Remove { kind, id }),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_survives_the_log() {
        let writes = vec![
            Write::Put {
                kind: kind::GRANT,
                id: "grant_1".into(),
                body: br#"{"id":"grant_1","note":"\u00e9"}"#.to_vec(),
            },
            Write::Remove {
                kind: kind::KEY,
                id: "key_1".into(),
            },
        ];
        let back = decode(encode(&writes).as_bytes()).unwrap();
        assert_eq!(format!("{back:?}"), format!("{writes:?}"));
        let newer = br#"[{"op":"put","kind":"hologram","id":"h","body":"{}"}]"#;
        assert!(decode(newer).unwrap().is_empty(), "unknown kinds are skipped");
        assert!(decode(b"{").is_err());
        assert_eq!(split_field(&field("grant", "grant_1")), Some(("grant", "grant_1")));
    }
}
