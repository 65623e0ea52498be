//! A whole configuration: parse, write, look up and validate.

use std::collections::{HashMap, HashSet};

use super::builder::ConfigBuilder;
use super::model::*;
use super::types::*;
use crate::json::{json_error, parse_json, to_json_pretty_string, to_json_string};
use crate::{Error, Result};

impl Config {
    /// Starts a [`ConfigBuilder`] for a one-application configuration.
    pub fn builder(app: impl Into<String>) -> ConfigBuilder {
        ConfigBuilder::new(app)
    }

    /// Parses and [validates](Self::validate) a configuration.
    ///
    /// Malformed JSON gives [`Error::Json`]; a well-formed configuration that
    /// breaks a rule gives [`Error::Config`].
    pub fn from_json(json: &str) -> Result<Config> {
        let config = Config::from_json_unvalidated(json)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a configuration without validating it.
    pub fn from_json_unvalidated(json: &str) -> Result<Config> {
        parse_json("config", json)
    }

    /// Like [`from_json`](Self::from_json), from bytes.
    pub fn from_slice(json: &[u8]) -> Result<Config> {
        let config: Config = serde_json::from_slice(json).map_err(|e| json_error("config", e))?;
        config.validate()?;
        Ok(config)
    }

    /// Compact JSON (empties omitted, unknown fields kept).
    pub fn to_json(&self) -> String {
        to_json_string(self)
    }

    /// Indented JSON.
    pub fn to_json_pretty(&self) -> String {
        to_json_pretty_string(self)
    }

    /// The channel with id `id` and the name of the app defining it.
    pub fn channel(&self, id: u32) -> Option<(&str, &Channel)> {
        self.apps
            .iter()
            .find_map(|(name, app)| app.channel(id).map(|c| (name.as_str(), c)))
    }

    /// The parameter with id `id` and the name of the app defining it.
    pub fn parameter(&self, id: &str) -> Option<(&str, &Parameter)> {
        self.apps
            .iter()
            .find_map(|(name, app)| app.parameter(id).map(|p| (name.as_str(), p)))
    }

    /// The event definition with id `id` and the name of the app defining it.
    pub fn event(&self, id: i32) -> Option<(&str, &EventDefinition)> {
        self.apps
            .iter()
            .find_map(|(name, app)| app.event(id).map(|e| (name.as_str(), e)))
    }

    /// Data type of every channel (defaults applied), for decoding data.
    pub fn channel_data_types(&self) -> HashMap<u32, ChannelDataType> {
        self.apps
            .values()
            .flat_map(|app| app.channels.iter())
            .map(|c| (c.id, c.data_type_or_default()))
            .collect()
    }

    /// The lowest and highest channel id, if there are channels (useful to
    /// choose a `channelOffset` when binding several configurations).
    pub fn channel_id_range(&self) -> Option<(u32, u32)> {
        let ids = self
            .apps
            .values()
            .flat_map(|a| a.channels.iter().map(|c| c.id));
        ids.fold(None, |acc, id| match acc {
            None => Some((id, id)),
            Some((lo, hi)) => Some((lo.min(id), hi.max(id))),
        })
    }

    /// Gives every parameter without `conv` the app's default 1:1 conversion
    /// `1to1:<app>` (unit `""`, format `%5.3f`), adding that conversion to the
    /// app if it is missing, as the Configuration API does on publication.
    /// Returns how many parameters were changed.
    ///
    /// ```
    /// use rta_core::config::Config;
    ///
    /// let mut c = Config::from_json(r#"{"demo": {"parameters": [{"id": "p:demo", "name": "p", "desc": "P"}]}}"#)?;
    /// assert_eq!(c.fill_default_conversions(), 1);
    /// assert_eq!(c.apps["demo"].parameters[0].conv.as_deref(), Some("1to1:demo"));
    /// assert!(c.apps["demo"].conversion("1to1:demo").is_some());
    /// c.validate()?;
    /// # Ok::<(), rta_core::Error>(())
    /// ```
    pub fn fill_default_conversions(&mut self) -> usize {
        let mut changed = 0;
        for (name, app) in &mut self.apps {
            let conv_name = format!("1to1:{name}");
            let mut app_changed = false;
            for p in app.parameters.iter_mut().filter(|p| p.conv.is_none()) {
                p.conv = Some(conv_name.clone());
                app_changed = true;
                changed += 1;
            }
            if app_changed && app.conversion(&conv_name).is_none() {
                app.conversions
                    .push(Conversion::identity(conv_name, "", "%5.3f"));
            }
        }
        changed
    }

    /// Checks the configuration, failing with [`Error::Config`] on the first
    /// problem found (see [`problems`](Self::problems) for all of them).
    pub fn validate(&self) -> Result<()> {
        match self.problems().into_iter().next() {
            Some(p) => Err(Error::Config(p)),
            None => Ok(()),
        }
    }

    /// Every rule the configuration breaks, each naming the offending item:
    ///
    /// - app names, parameter ids/names/descriptions, group ids, conversion
    ///   names and error definition fields are non-empty;
    /// - channel ids, parameter ids and event ids are unique in the whole
    ///   configuration; group ids and conversion names are unique in their app;
    /// - references resolve within the app: tree and group parameter ids,
    ///   parameter channels and conversions, event conversions, error
    ///   definitions' `current` / `logged` parameters;
    /// - conversions set at most one of rational/table/text/formula; rational
    ///   has six finite coefficients; table and text lists have matching
    ///   lengths and table raw values ascend;
    /// - masks are hex `u32`s, error bits are 0-31, channel intervals are not
    ///   negative, `applicationVersionId` is eight hex digits, numbers are finite.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut channel_ids: HashMap<u32, &str> = HashMap::new();
        let mut parameter_ids: HashMap<&str, &str> = HashMap::new();
        let mut event_ids: HashMap<i32, &str> = HashMap::new();
        for (name, app) in &self.apps {
            if name.is_empty() {
                out.push("an application has an empty name".to_string());
            }
            for c in &app.channels {
                if let Some(other) = channel_ids.insert(c.id, name) {
                    out.push(format!(
                        "app {name:?}: channel {} is defined more than once (also in app {other:?})",
                        c.id
                    ));
                }
            }
            for p in &app.parameters {
                if let Some(other) = parameter_ids.insert(&p.id, name) {
                    out.push(format!(
                        "app {name:?}: parameter {:?} is defined more than once (also in app {other:?})",
                        p.id
                    ));
                }
            }
            for e in &app.events {
                if let Some(other) = event_ids.insert(e.id, name) {
                    out.push(format!(
                        "app {name:?}: event definition {} is defined more than once (also in app {other:?})",
                        e.id
                    ));
                }
            }
            check_app(name, app, &mut out);
        }
        out
    }
}

fn check_app(name: &str, app: &Application, out: &mut Vec<String>) {
    let params: HashSet<&str> = app.parameters.iter().map(|p| p.id.as_str()).collect();
    let channels: HashSet<u32> = app.channels.iter().map(|c| c.id).collect();
    let mut convs: HashSet<&str> = HashSet::new();

    if let Some(identity) = &app.identity {
        let v = &identity.application_version_id;
        if v.len() != 8 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.push(format!(
                "app {name:?}: identity applicationVersionId {v:?} is not eight hex digits"
            ));
        }
    }

    for p in &app.tree.params {
        if !params.contains(p.as_str()) {
            out.push(format!(
                "app {name:?}: tree references undefined parameter {p:?}"
            ));
        }
    }
    let mut group_ids = HashSet::new();
    // Explicit stack: nesting is bounded by the JSON parser, but keep it iterative.
    let mut stack: Vec<&ParameterGroup> = app.tree.groups.iter().collect();
    while let Some(g) = stack.pop() {
        if g.id.is_empty() {
            out.push(format!("app {name:?}: a parameter group has an empty id"));
        } else if !group_ids.insert(g.id.as_str()) {
            out.push(format!(
                "app {name:?}: parameter group {:?} is defined more than once",
                g.id
            ));
        }
        for p in &g.params {
            if !params.contains(p.as_str()) {
                out.push(format!(
                    "app {name:?}: group {:?} references undefined parameter {p:?}",
                    g.id
                ));
            }
        }
        stack.extend(g.groups.iter());
    }

    for c in &app.conversions {
        let cn = &c.name;
        if cn.is_empty() {
            out.push(format!("app {name:?}: a conversion has an empty name"));
        } else if !convs.insert(cn.as_str()) {
            out.push(format!(
                "app {name:?}: conversion {cn:?} is defined more than once"
            ));
        }
        if c.kinds_set() > 1 {
            out.push(format!(
                "app {name:?}: conversion {cn:?} sets more than one of rational/table/text/formula"
            ));
        }
        if let Some(r) = &c.rational {
            if r.coeffs.len() != 6 {
                out.push(format!(
                    "app {name:?}: conversion {cn:?} has {} rational coefficients, not 6",
                    r.coeffs.len()
                ));
            }
            if r.coeffs.iter().any(|v| !v.is_finite()) {
                out.push(format!(
                    "app {name:?}: conversion {cn:?} has a non-finite coefficient"
                ));
            }
        }
        if let Some(t) = &c.table {
            if t.raw.len() != t.calibrated.len() {
                out.push(format!(
                    "app {name:?}: conversion {cn:?} table has {} raw and {} calibrated values",
                    t.raw.len(),
                    t.calibrated.len()
                ));
            }
            if t.raw.windows(2).any(|w| w[0] > w[1]) {
                out.push(format!(
                    "app {name:?}: conversion {cn:?} table raw values do not ascend"
                ));
            }
            if t.raw.iter().chain(&t.calibrated).any(|v| !v.is_finite()) {
                out.push(format!(
                    "app {name:?}: conversion {cn:?} table has a non-finite value"
                ));
            }
        }
        if let Some(t) = &c.text {
            if t.keys.len() != t.values.len() {
                out.push(format!(
                    "app {name:?}: conversion {cn:?} text has {} keys and {} values",
                    t.keys.len(),
                    t.values.len()
                ));
            }
            if t.keys.iter().any(|v| !v.is_finite()) {
                out.push(format!(
                    "app {name:?}: conversion {cn:?} text has a non-finite key"
                ));
            }
        }
    }

    for p in &app.parameters {
        let pid = &p.id;
        if pid.is_empty() {
            out.push(format!("app {name:?}: a parameter has an empty id"));
        }
        if p.name.is_empty() {
            out.push(format!("app {name:?}: parameter {pid:?} has an empty name"));
        }
        if p.desc.is_empty() {
            out.push(format!("app {name:?}: parameter {pid:?} has an empty desc"));
        }
        if let Some(conv) = &p.conv {
            if !convs.contains(conv.as_str()) {
                out.push(format!(
                    "app {name:?}: parameter {pid:?} references undefined conversion {conv:?}"
                ));
            }
        }
        for ch in &p.channels {
            if !channels.contains(ch) {
                out.push(format!(
                    "app {name:?}: parameter {pid:?} references undefined channel {ch}"
                ));
            }
        }
        for (field, value) in [
            ("min", p.min),
            ("max", p.max),
            ("warnMin", p.warn_min),
            ("warnMax", p.warn_max),
            ("offset", p.offset),
        ] {
            if value.is_some_and(|v| !v.is_finite()) {
                out.push(format!(
                    "app {name:?}: parameter {pid:?} {field} is not finite"
                ));
            }
        }
        for (field, mask) in [("mask", &p.mask), ("errorMask", &p.error_mask)] {
            if let Some(m) = mask {
                if let Err(e) = parse_hex_mask(m, field, pid) {
                    out.push(format!("app {name:?}: {}", config_reason(e)));
                }
            }
        }
    }

    for c in &app.channels {
        if c.interval_or_default() < 0 {
            out.push(format!(
                "app {name:?}: channel {} has a negative interval {}",
                c.id,
                c.interval_or_default()
            ));
        }
    }

    for e in &app.events {
        for conv in &e.convs {
            if !convs.contains(conv.as_str()) {
                out.push(format!(
                    "app {name:?}: event definition {} references undefined conversion {conv:?}",
                    e.id
                ));
            }
        }
    }

    for e in &app.errors {
        let en = &e.name;
        for (field, value) in [
            ("name", en),
            ("group", &e.group),
            ("current", &e.current),
            ("logged", &e.logged),
        ] {
            if value.is_empty() {
                out.push(format!(
                    "app {name:?}: error definition {en:?} has an empty {field}"
                ));
            }
        }
        for (field, value) in [("current", &e.current), ("logged", &e.logged)] {
            if !value.is_empty() && !params.contains(value.as_str()) {
                out.push(format!(
                    "app {name:?}: error definition {en:?} {field} references undefined parameter {value:?}"
                ));
            }
        }
        if let Some(bit) = e.bit {
            if bit > 31 {
                out.push(format!(
                    "app {name:?}: error definition {en:?} bit {bit} is not in 0-31"
                ));
            }
        }
    }
}

fn config_reason(e: Error) -> String {
    match e {
        Error::Config(s) => s,
        other => other.to_string(),
    }
}
