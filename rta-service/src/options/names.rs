//! Option names: the well-known ones, and how names given in any form
//! (flag, environment variable, config key) are matched.

/// Prefix of the environment variables read as options.
pub const ENV_PREFIX: &str = "RTA_";

/// Name of the option giving the JSON config file.
pub const CONFIG: &str = "Config";
/// HTTP port option.
pub const HTTP_PORT: &str = "HttpPort";
/// gRPC port option.
pub const GRPC_PORT: &str = "GrpcPort";
/// Bind address option.
pub const BIND: &str = "Bind";
/// Data directory option.
pub const DATA_DIR: &str = "DataDir";
/// Label of `/rta/v2/info`.
pub const LABEL: &str = "Label";
/// Description of `/rta/v2/info`.
pub const DESCRIPTION: &str = "Description";
/// The toolkit's section for `/rta/v2/info` (`ServiceInfo:Label`,
/// `ServiceInfo:Description`; `RTA_ServiceInfo__Label`), accepted as well as
/// [`LABEL`] and [`DESCRIPTION`].
pub const SERVICE_INFO: &str = "ServiceInfo";
/// `ServiceInfo:Label`, the toolkit's name of [`LABEL`].
pub const SERVICE_INFO_LABEL: &str = "ServiceInfo:Label";
/// `ServiceInfo:Description`, the toolkit's name of [`DESCRIPTION`].
pub const SERVICE_INFO_DESCRIPTION: &str = "ServiceInfo:Description";

/// `HttpPort` -> `http-port`.
pub(super) fn kebab(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The flag of a name: `HttpPort` -> `http-port`, `Trimmer:Interval` ->
/// `trimmer-interval`.
pub(super) fn flag_of(name: &str) -> String {
    name.split(':').map(kebab).collect::<Vec<_>>().join("-")
}

/// Whether `key` (as given) names the option or alias `name`: ignoring case,
/// `-` and `_`; a key written without `:` may also leave out the nesting
/// (`trimmer-interval` for `Trimmer:Interval`).
pub(super) fn same_name(name: &str, key: &str) -> bool {
    let name = normalize_name(name);
    let key = normalize_name(key);
    if key.contains(':') {
        name == key
    } else {
        name.replace(':', "") == key
    }
}

/// An option name without case, `-` or `_`.
pub(super) fn normalize_name(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A full key: the name normalized, sub-keys lower-cased.
pub(super) fn normalize_key(key: &str) -> String {
    match key.split_once(':') {
        Some((head, rest)) => format!("{}:{}", normalize_name(head), rest.to_lowercase()),
        None => normalize_name(key),
    }
}

pub(super) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

pub(super) fn is_bool(v: &str) -> bool {
    parse_bool(v).is_some()
}

/// HTTPS port, served when `TlsCert` and `TlsKey` are given.
pub const HTTPS_PORT: &str = "HttpsPort";
/// PEM certificate chain of the HTTPS and gRPC listeners.
pub const TLS_CERT: &str = "TlsCert";
/// PEM private key of `TlsCert`.
pub const TLS_KEY: &str = "TlsKey";
/// PEM CA certificates the service trusts as a client, beyond the web roots.
pub const TLS_CA_FILE: &str = "TlsCaFile";
