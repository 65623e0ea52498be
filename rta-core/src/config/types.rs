//! The string enumerations of the configuration model, with their JSON names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Declares a string enumeration with its JSON names.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $json:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $json)] $variant, )+
        }

        impl $name {
            /// Every value, in schema order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The JSON name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $json, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| Error::InvalidArgument(format!(
                        "unknown {} {:?} (valid: {})",
                        $what,
                        s,
                        [$($json),+].join(", ")
                    )))
            }
        }
    };
}

string_enum! {
    /// Data type and width of a channel's samples (JSON `type`; default `f64`).
    ///
    /// ```
    /// use rta_core::config::ChannelDataType;
    ///
    /// let t: ChannelDataType = "s16".parse()?;
    /// assert_eq!(t.width(), 2);
    /// assert!(t.is_signed() && !t.is_float());
    /// assert_eq!(ChannelDataType::F32x3.width(), 12);
    /// # Ok::<(), rta_core::Error>(())
    /// ```
    ChannelDataType, "channel data type" {
        /// Unsigned 8-bit integer.
        U8 = "u8",
        /// Signed 8-bit integer.
        S8 = "s8",
        /// Unsigned 16-bit integer.
        U16 = "u16",
        /// Signed 16-bit integer.
        S16 = "s16",
        /// Unsigned 32-bit integer.
        U32 = "u32",
        /// Signed 32-bit integer.
        S32 = "s32",
        /// 32-bit float.
        F32 = "f32",
        /// Three 32-bit floats (a 3-axis value), 12 bytes per sample.
        F32x3 = "3f32",
        /// 64-bit float (the default).
        F64 = "f64",
    }
}

impl ChannelDataType {
    /// Bytes per sample in a data buffer (little-endian).
    pub fn width(self) -> usize {
        match self {
            ChannelDataType::U8 | ChannelDataType::S8 => 1,
            ChannelDataType::U16 | ChannelDataType::S16 => 2,
            ChannelDataType::U32 | ChannelDataType::S32 | ChannelDataType::F32 => 4,
            ChannelDataType::F64 => 8,
            ChannelDataType::F32x3 => 12,
        }
    }

    /// Values per sample: 3 for `3f32`, otherwise 1.
    pub fn components(self) -> usize {
        match self {
            ChannelDataType::F32x3 => 3,
            _ => 1,
        }
    }

    /// True for the float types.
    pub fn is_float(self) -> bool {
        matches!(
            self,
            ChannelDataType::F32 | ChannelDataType::F32x3 | ChannelDataType::F64
        )
    }

    /// True for the signed types (signed integers and floats).
    pub fn is_signed(self) -> bool {
        !matches!(
            self,
            ChannelDataType::U8 | ChannelDataType::U16 | ChannelDataType::U32
        )
    }
}

// The enum comes from a macro, so `#[default]` cannot be attached.
#[allow(clippy::derivable_impls)]
impl Default for ChannelDataType {
    fn default() -> Self {
        ChannelDataType::F64
    }
}

string_enum! {
    /// Where a channel's data comes from, which sets its timing accuracy
    /// (JSON `source`; default `row`).
    ChannelSource, "channel source" {
        /// CAN bus data.
        Can = "can",
        /// Event data.
        Event = "event",
        /// Sampled at a fixed interval.
        Periodic = "periodic",
        /// Synchronized with another time source (same as timestamped).
        Synchro = "synchro",
        /// Individually timestamped samples.
        Timestamped = "timestamped",
        /// Memory snapshots (row data), the default.
        Row = "row",
        /// Periodic data sub-sampled from a faster source.
        SubSampledPeriodic = "subSampledPeriodic",
    }
}

#[allow(clippy::derivable_impls)]
impl Default for ChannelSource {
    fn default() -> Self {
        ChannelSource::Row
    }
}

string_enum! {
    /// Kind of parameter (JSON `type`; default `std`).
    ParameterType, "parameter type" {
        /// Measured parameter.
        Std = "std",
        /// Virtual parameter computed by a function.
        Virt = "virt",
    }
}

string_enum! {
    /// Byte order of raw parameter data (default little-endian).
    ByteOrder, "byte order" {
        /// Little-endian.
        Le = "le",
        /// Big-endian.
        Be = "be",
    }
}

string_enum! {
    /// Language of a virtual parameter's function (default `fdl`).
    FunctionLanguage, "function language" {
        /// FDL.
        Fdl = "fdl",
        /// SFDL.
        Sfdl = "sfdl",
        /// C#.
        CSharp = "C#",
        /// FDL#.
        FdlSharp = "fdl#",
        /// FDL# script.
        FdlSharpScript = "fdl#Script",
    }
}

string_enum! {
    /// RDA (reduced data access) support of an application.
    RdaSupport, "RDA support mode" {
        /// RDA is supported (the application may be locked).
        Supported = "supported",
        /// RDA is not supported.
        NotSupported = "notSupported",
    }
}

string_enum! {
    /// Priority (severity) of an event definition (default `debug`).
    EventPriority, "event priority" {
        /// Debug.
        Debug = "debug",
        /// Low.
        Low = "low",
        /// Medium.
        Medium = "medium",
        /// High.
        High = "high",
    }
}
