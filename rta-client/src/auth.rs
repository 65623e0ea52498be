//! Bearer tokens: a fixed one, or a callback asked before every call (so a
//! program can refresh its token without rebuilding the client).

use std::fmt;
use std::sync::Arc;

use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;

/// A gRPC channel with the bearer token added to every call.
pub type Grpc = tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>;

/// Where the bearer token of each request comes from. Its value never
/// appears in `Debug` output or logs.
///
/// ```
/// use rta_client::Token;
/// let fixed = Token::fixed("eyJ...");
/// assert_eq!(fixed.header().as_deref(), Some("Bearer eyJ..."));
/// let refreshed = Token::callback(|| Some("fresh".to_string()));
/// assert_eq!(refreshed.header().as_deref(), Some("Bearer fresh"));
/// assert_eq!(format!("{fixed:?}"), "Token(fixed)");
/// ```
#[derive(Clone, Default)]
pub enum Token {
    /// No token: for services without authentication.
    #[default]
    None,
    /// The same token for every request.
    Fixed(Arc<str>),
    /// A function asked for the current token before each request.
    Callback(Arc<dyn Fn() -> Option<String> + Send + Sync>),
}

impl Token {
    /// A fixed token (without the `Bearer ` prefix).
    pub fn fixed(token: impl Into<String>) -> Self {
        Token::Fixed(Arc::from(token.into()))
    }

    /// A token from `f`, asked before every request.
    pub fn callback(f: impl Fn() -> Option<String> + Send + Sync + 'static) -> Self {
        Token::Callback(Arc::new(f))
    }

    /// The `Authorization` header value, if there is a token.
    pub fn header(&self) -> Option<String> {
        match self {
            Token::None => None,
            Token::Fixed(t) => Some(format!("Bearer {t}")),
            Token::Callback(f) => f().map(|t| format!("Bearer {t}")),
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Token::None => "none",
            Token::Fixed(_) => "fixed",
            Token::Callback(_) => "callback",
        };
        write!(f, "Token({kind})")
    }
}

/// The gRPC interceptor that adds the bearer token to every call (the
/// generated clients of [`crate::RtaClient`] carry it).
#[derive(Clone, Debug)]
pub struct Bearer(pub Token);

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(h) = self.0.header() {
            let v: MetadataValue<_> = h
                .parse()
                .map_err(|_| tonic::Status::unauthenticated("the token is not a valid header"))?;
            req.metadata_mut().insert("authorization", v);
        }
        Ok(req)
    }
}
