//! Virtual session folders.

use serde::{Deserialize, Serialize};

use crate::json::{parse_json, to_json_string, Extra};
use crate::Result;

/// A virtual folder (`GET /rta/v2/session-folders/{parent}` returns a list).
///
/// The schema in `api.yaml` misspells `hasChildren` as `hasChldren`; both are
/// read, `hasChildren` (as in the examples) is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionFolder {
    /// Globally unique folder identity (the root is `""`).
    pub identity: String,
    /// Label for display.
    pub label: String,
    /// Longer description for display.
    pub description: String,
    /// Whether the folder has child folders.
    #[serde(default, alias = "hasChldren")]
    pub has_children: bool,
    /// Properties this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl SessionFolder {
    /// A folder without children.
    pub fn new(
        identity: impl Into<String>,
        label: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        SessionFolder {
            identity: identity.into(),
            label: label.into(),
            description: description.into(),
            has_children: false,
            extra: Extra::new(),
        }
    }

    /// Parses the JSON array returned for a parent folder.
    pub fn list_from_json(json: &str) -> Result<Vec<SessionFolder>> {
        parse_json("session folders", json)
    }

    /// Writes a list of folders as a JSON array.
    pub fn list_to_json(folders: &[SessionFolder]) -> String {
        to_json_string(&folders)
    }
}
