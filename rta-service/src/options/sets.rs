//! The option sets services share, declared on an [`OptionsParser`]: the
//! four service options, the listeners' (TLS, `Limits:*`), what
//! `/rta/v2/info` shows, and OAuth 2.0.

use super::limits;
use super::names::{
    BIND, DATA_DIR, DESCRIPTION, GRPC_PORT, HTTPS_PORT, HTTP_PORT, LABEL, SERVICE_INFO,
    TLS_CA_FILE, TLS_CERT, TLS_KEY,
};
use super::parser::OptionsParser;

impl OptionsParser {
    /// A parser with the four service options (`--http-port`, `--grpc-port`,
    /// `--bind`, `--data-dir`) and their defaults.
    pub fn service(
        program: impl Into<String>,
        about: impl Into<String>,
        http_port: u16,
        grpc_port: u16,
    ) -> Self {
        OptionsParser::new(program, about)
            .option(
                HTTP_PORT,
                "N",
                "HTTP port (REST API, /health, /metrics)",
                Some(&http_port.to_string()),
            )
            .option(GRPC_PORT, "N", "gRPC port", Some(&grpc_port.to_string()))
            .option(BIND, "HOST", "Address to listen on", Some("0.0.0.0"))
            .option(
                DATA_DIR,
                "DIR",
                "Directory of the embedded stores",
                Some("data"),
            )
    }

    /// Adds the options of the listeners: `HttpsPort` (when the service has
    /// an HTTPS port, with its toolkit default), `TlsCert` and `TlsKey` (the
    /// listeners' certificate), `TlsCaFile` (extra CAs trusted as a client)
    /// and the `Limits:*` of `ListenerLimits`.
    pub fn listener_options(self, https_port: Option<u16>) -> Self {
        let parser = match https_port {
            Some(port) => self.option(
                HTTPS_PORT,
                "N",
                "HTTPS port, served when --tls-cert and --tls-key are given",
                Some(&port.to_string()),
            ),
            None => self,
        };
        let parser = parser
            .option(
                TLS_CERT,
                "FILE",
                "PEM certificate chain: serve HTTPS, and gRPC over TLS (reloaded on change or SIGHUP)",
                None,
            )
            .option(TLS_KEY, "FILE", "PEM private key of --tls-cert", None)
            .option(
                TLS_CA_FILE,
                "FILE",
                "PEM CA certificates to trust when calling other services",
                None,
            );
        limits::declare(parser)
    }

    /// Adds `--label` and `--description`, what `/rta/v2/info` tells ATLAS
    /// (see `monitor::ServiceInfo::from_options`), and the toolkit's names for
    /// them, `ServiceInfo:Label` and `ServiceInfo:Description`
    /// (`RTA_ServiceInfo__Label`, `{"ServiceInfo": {"Label": ...}}`), so
    /// existing deployments keep their settings.
    pub fn info_options(self, default_label: &str) -> Self {
        self.option(
            LABEL,
            "TEXT",
            "Server label shown by ATLAS (/rta/v2/info)",
            Some(default_label),
        )
        .option(
            DESCRIPTION,
            "TEXT",
            "Server description shown by ATLAS (/rta/v2/info)",
            Some(""),
        )
        .section(
            SERVICE_INFO,
            "Toolkit names of the two above: ServiceInfo:Label, ServiceInfo:Description",
        )
    }

    /// Adds the toolkit's OAuth 2.0 options: `EnableAuth`, `Auth:Authority`,
    /// `Auth:Audience`, `Auth:RequireHttpsMetadata` (default `true`: an
    /// `http://` authority is refused) and `Auth:WriteScope` (see
    /// [`Options::auth`]).
    pub fn auth_options(self) -> Self {
        self.option(
            "EnableAuth",
            "BOOL",
            "Require OAuth 2.0 bearer tokens",
            Some("false"),
        )
        .option(
            "Auth:Authority",
            "URL",
            "OAuth 2.0 / OpenID Connect issuer",
            None,
        )
        .option("Auth:Audience", "TEXT", "Audience tokens must name", None)
        .option(
            "Auth:RequireHttpsMetadata",
            "BOOL",
            "Refuse an http:// authority (set false only for labs and tests)",
            Some("true"),
        )
        .option(
            "Auth:WriteScope",
            "SCOPE",
            "Scope that gRPC methods changing state need",
            None,
        )
    }
}
