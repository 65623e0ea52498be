//! Session bindings read from a Session Service over HTTP: the session's
//! JSON (for its state) and its private
//! `GET /rta/v2/sessions/{identity}/data-bindings`.

use async_trait::async_trait;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rta_bindings::model::DataBinding;
use rta_bindings::service::{Bindings, BindingsSource};
use rta_core::service::Authorization;
use rta_core::session::SessionState;
use rta_core::Error;

/// A [`BindingsSource`] over a Session Service's REST API; the client's
/// credentials go with each call.
#[derive(Debug, Clone)]
pub struct RemoteBindings {
    client: reqwest::Client,
    base: String,
    bindings_base: String,
}

impl RemoteBindings {
    /// Reads bindings from the Session Service at `base_url`.
    pub fn new(client: reqwest::Client, base_url: &str) -> Self {
        let base = base_url.trim_end_matches('/').to_string();
        Self {
            client,
            bindings_base: base.clone(),
            base,
        }
    }

    /// Reads the private data-bindings route from `url` (a session
    /// service's internal listener) instead of the session service's base.
    pub fn with_bindings_base(mut self, url: &str) -> Self {
        self.bindings_base = url.trim_end_matches('/').to_string();
        self
    }

    async fn get(
        &self,
        base: &str,
        path: &str,
        auth: &Authorization,
    ) -> rta_core::Result<Option<String>> {
        let mut req = self.client.get(format!("{base}{path}"));
        if let Some(v) = auth.value() {
            req = req.header(reqwest::header::AUTHORIZATION, v);
        }
        let upstream = |what: String| Error::Upstream(format!("session service: {what}"));
        let resp = req
            .send()
            .await
            .map_err(|e| upstream(format!("request failed: {e}")))?;
        match resp.status() {
            s if s == reqwest::StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => resp
                .text()
                .await
                .map(Some)
                .map_err(|e| upstream(format!("body failed: {e}"))),
            s => Err(upstream(format!("answered {s}"))),
        }
    }
}

#[async_trait]
impl BindingsSource for RemoteBindings {
    async fn bindings(
        &self,
        session: &str,
        auth: &Authorization,
    ) -> rta_core::Result<Option<Bindings>> {
        let id = utf8_percent_encode(session, NON_ALPHANUMERIC).to_string();
        let Some(json) = self
            .get(&self.base, &format!("/rta/v2/sessions/{id}"), auth)
            .await?
        else {
            return Ok(None);
        };
        let state = rta_core::session::Session::from_json(&json)?.state;
        let path = format!("/rta/v2/sessions/{id}/data-bindings");
        let Some(json) = self.get(&self.bindings_base, &path, auth).await? else {
            return Ok(None);
        };
        let bindings = DataBinding::list_from_json(&json)
            .map_err(|e| Error::Upstream(format!("session service: bad data bindings: {e}")))?;
        Ok(Some(Bindings {
            bindings,
            cacheable: state == SessionState::Closed,
        }))
    }
}
