//! [`ConfigBuilder`]: the common configuration, one app with a few
//! parameters each fed by one channel.

use super::model::*;
use super::types::*;
use crate::{Error, Result};

/// One parameter for [`ConfigBuilder`]: a name, a data type and how it is
/// sampled, plus optional description, unit and range.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterSpec {
    name: String,
    desc: Option<String>,
    unit: Option<String>,
    format: Option<String>,
    range: Option<(f64, f64)>,
    data_type: ChannelDataType,
    source: ChannelSource,
    interval_ns: i64,
}

impl ParameterSpec {
    /// A timestamped parameter called `name` with samples of `data_type`.
    pub fn new(name: impl Into<String>, data_type: ChannelDataType) -> Self {
        ParameterSpec {
            name: name.into(),
            desc: None,
            unit: None,
            format: None,
            range: None,
            data_type,
            source: ChannelSource::Timestamped,
            interval_ns: 0,
        }
    }

    /// Description (defaults to the name).
    pub fn desc(mut self, desc: impl Into<String>) -> Self {
        self.desc = Some(desc.into());
        self
    }

    /// Unit of measure.
    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }

    /// Format string (overrides the shared conversion's `%5.3f`).
    pub fn format(mut self, format: impl Into<String>) -> Self {
        self.format = Some(format.into());
        self
    }

    /// Expected range (`min`, `max`).
    pub fn range(mut self, min: f64, max: f64) -> Self {
        self.range = Some((min, max));
        self
    }

    /// Sampled periodically at `hz` (channel source `periodic`, interval 1e9/hz ns).
    pub fn periodic_hz(mut self, hz: f64) -> Self {
        self.source = ChannelSource::Periodic;
        self.interval_ns = if hz.is_finite() && hz > 0.0 {
            (1e9 / hz).round() as i64
        } else {
            -1
        };
        self
    }

    /// Individually timestamped samples (the default).
    pub fn timestamped(mut self) -> Self {
        self.source = ChannelSource::Timestamped;
        self.interval_ns = 0;
        self
    }

    /// Row data (memory snapshots).
    pub fn row(mut self) -> Self {
        self.source = ChannelSource::Row;
        self.interval_ns = 0;
        self
    }
}

/// Builds the common configuration: one application, parameters each fed by
/// one channel (ids assigned in order from 1, or from
/// [`first_channel`](Self::first_channel)), one shared 1:1 conversion
/// (`1to1:<app>`), all parameters bound to the tree, and optional events.
///
/// Parameter ids are `<name>:<app>`.
///
/// ```
/// use rta_core::config::{ChannelDataType, Config, EventPriority, ParameterSpec};
///
/// let config = Config::builder("demo")
///     .parameter(ParameterSpec::new("vCar", ChannelDataType::F64).unit("km/h").periodic_hz(100.0))
///     .parameter(ParameterSpec::new("gear", ChannelDataType::U8).desc("Gear"))
///     .event(1, "Gear change", EventPriority::Medium)
///     .build()?;
///
/// let (app, channel) = config.channel(1).unwrap();
/// assert_eq!(app, "demo");
/// assert_eq!(channel.interval, Some(10_000_000));
/// assert_eq!(config.parameter("gear:demo").unwrap().1.channels, vec![2]);
/// assert_eq!(Config::from_json(&config.to_json())?, config);
/// # Ok::<(), rta_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    app: String,
    desc: Option<String>,
    first_channel: u32,
    parameters: Vec<ParameterSpec>,
    events: Vec<(i32, String, EventPriority)>,
}

impl ConfigBuilder {
    /// A builder for app `app`.
    pub fn new(app: impl Into<String>) -> Self {
        ConfigBuilder {
            app: app.into(),
            desc: None,
            first_channel: 1,
            parameters: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Application description.
    pub fn desc(mut self, desc: impl Into<String>) -> Self {
        self.desc = Some(desc.into());
        self
    }

    /// Id of the first channel (default 1).
    pub fn first_channel(mut self, id: u32) -> Self {
        self.first_channel = id;
        self
    }

    /// Adds a parameter.
    pub fn parameter(mut self, spec: ParameterSpec) -> Self {
        self.parameters.push(spec);
        self
    }

    /// Adds a parameter sampled at `hz`.
    pub fn periodic(self, name: impl Into<String>, data_type: ChannelDataType, hz: f64) -> Self {
        self.parameter(ParameterSpec::new(name, data_type).periodic_hz(hz))
    }

    /// Adds a timestamped parameter.
    pub fn timestamped(self, name: impl Into<String>, data_type: ChannelDataType) -> Self {
        self.parameter(ParameterSpec::new(name, data_type))
    }

    /// Adds an event definition without data.
    pub fn event(mut self, id: i32, desc: impl Into<String>, pri: EventPriority) -> Self {
        self.events.push((id, desc.into(), pri));
        self
    }

    /// Builds and validates the configuration.
    ///
    /// Fails with [`Error::Config`] on an empty app or parameter name, a
    /// duplicate parameter or event id, a non-positive frequency or when
    /// channel ids would overflow `u32`.
    pub fn build(self) -> Result<Config> {
        let app_name = self.app;
        if app_name.is_empty() {
            return Err(Error::Config("the application name is empty".into()));
        }
        let conv_name = format!("1to1:{app_name}");
        let mut app = Application {
            desc: self.desc,
            conversions: vec![Conversion::identity(conv_name.clone(), "", "%5.3f")],
            ..Application::default()
        };
        for (i, spec) in self.parameters.into_iter().enumerate() {
            if spec.name.is_empty() {
                return Err(Error::Config(format!("parameter #{i} has an empty name")));
            }
            if spec.interval_ns < 0 {
                return Err(Error::Config(format!(
                    "parameter {:?}: the frequency must be positive and finite",
                    spec.name
                )));
            }
            let channel_id = u32::try_from(i)
                .ok()
                .and_then(|i| self.first_channel.checked_add(i))
                .ok_or_else(|| Error::Config("channel ids overflow u32".into()))?;
            let id = format!("{}:{app_name}", spec.name);
            let mut channel = Channel::new(channel_id, spec.source, spec.data_type);
            if spec.interval_ns > 0 {
                channel.interval = Some(spec.interval_ns);
            }
            app.channels.push(channel);
            let mut param = Parameter::new(
                id.clone(),
                spec.name.clone(),
                spec.desc.unwrap_or(spec.name),
                conv_name.clone(),
            );
            param.channels = vec![channel_id];
            param.unit = spec.unit;
            param.format = spec.format;
            if let Some((min, max)) = spec.range {
                param.min = Some(min);
                param.max = Some(max);
            }
            app.tree.params.push(id);
            app.parameters.push(param);
        }
        for (id, desc, pri) in self.events {
            app.events.push(EventDefinition {
                id,
                desc: Some(desc),
                pri: Some(pri),
                ..EventDefinition::default()
            });
        }
        let mut config = Config::default();
        config.apps.insert(app_name, app);
        config.validate()?;
        Ok(config)
    }
}
