//! The HTTPS client for ad-platform lead fetches (Meta Graph API, LinkedIn Lead Sync API).
//! Base URLs come from each tenant's channel settings; only the platforms' hosts are called,
//! unless the client is built for local development (a fake platform in tests).

use crate::domain::capture::{LinkedinConfig, MetaConfig};
use crate::ports::fetch::{Answers, FetchError, LeadFetcher, PlatformLead};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use std::time::Duration;

/// The hosts each platform's API lives on. Base URLs are per tenant, so without this list a
/// tenant admin could point the platform token (and our network position) anywhere.
const ALLOWED_HOSTS: &[(&str, &[&str])] = &[
    ("meta", &["graph.facebook.com"]),
    ("linkedin", &["api.linkedin.com"]),
];

#[derive(Debug, Clone)]
pub struct PlatformClient {
    http: reqwest::Client,
    /// Local development and tests only: any http(s) host, loopback included.
    any_host: bool,
    webhooks: crate::domain::webhook_target::TargetPolicy,
}

impl Default for PlatformClient {
    fn default() -> Self {
        Self::new()
    }
}

impl PlatformClient {
    /// HTTPS to the platforms' own hosts only, no redirects.
    pub fn new() -> Self {
        Self::build(false)
    }

    /// Any http(s) base URL, for a fake platform on this machine. Never on a deployed stack.
    pub fn allowing_any_host() -> Self {
        Self::build(true)
    }

    fn build(any_host: bool) -> Self {
        // reqwest is built without a crypto provider of its own: the process uses aws-lc-rs,
        // as the AWS SDK does, so one TLS stack serves both. Installed once; a second call
        // finds it there.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            // A redirect would take the token to a host nobody checked.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            http,
            any_host,
            webhooks: Default::default(),
        }
    }

    /// Where webhook subscriptions may point (`AllowLoopback` for local development only).
    pub fn with_webhook_policy(mut self, p: crate::domain::webhook_target::TargetPolicy) -> Self {
        self.webhooks = p;
        self
    }

    async fn get_json(
        &self,
        platform: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<Value, FetchError> {
        let res = req.send().await.map_err(|e| {
            tracing::warn!(platform, error = %e.without_url(), "platform fetch failed");
            FetchError::Unreachable { platform }
        })?;
        let status = res.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(FetchError::Status { platform, status });
        }
        res.json().await.map_err(|e| {
            tracing::warn!(platform, error = %e.without_url(), "platform answer is not JSON");
            FetchError::Malformed {
                platform,
                message: "the answer is not JSON".into(),
            }
        })
    }
}

/// Checks a base URL against the platform's hosts (or, with `any_host`, that it is http(s)).
pub fn check_platform_url(platform: &'static str, url: &str, any_host: bool) -> Result<(), FetchError> {
    let refuse = |message: String| FetchError::NotAllowed { platform, message };
    let parsed = reqwest::Url::parse(url).map_err(|_| refuse("the base URL is not a URL".into()))?;
    if any_host {
        return match parsed.scheme() {
            "http" | "https" => Ok(()),
            _ => Err(refuse("the base URL must be http(s)".into())),
        };
    }
    let hosts = ALLOWED_HOSTS
        .iter()
        .find(|(p, _)| *p == platform)
        .map(|(_, h)| *h)
        .unwrap_or(&[]);
    let host_ok = parsed.host_str().is_some_and(|h| hosts.contains(&h));
    if parsed.scheme() == "https"
        && host_ok
        && parsed.port().is_none()
        && parsed.username().is_empty()
        && parsed.password().is_none()
    {
        Ok(())
    } else {
        Err(refuse(format!(
            "the base URL must be https://{} (no port or credentials)",
            hosts.join(" or https://")
        )))
    }
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// `field_data: [{name, values: [...]}]` as pairs; several values are joined with ", ".
pub fn meta_field_data(lead: &Value) -> Result<Answers, FetchError> {
    let fields = lead["field_data"]
        .as_array()
        .ok_or_else(|| FetchError::Malformed {
            platform: "meta",
            message: "no field_data".into(),
        })?;
    Ok(fields
        .iter()
        .filter_map(|f| {
            let name = f["name"].as_str()?.to_owned();
            let values: Vec<&str> = f["values"].as_array()?.iter().filter_map(Value::as_str).collect();
            Some((name, values.join(", ")))
        })
        .collect())
}

/// Pairs each answer of a LinkedIn form response with its question: the question's
/// `predefinedField` (FIRST_NAME, EMAIL, …) when it has one, else its name.
pub fn linkedin_answers(response: &Value, form: &Value) -> Result<Answers, FetchError> {
    let malformed = |m: &str| FetchError::Malformed {
        platform: "linkedin",
        message: m.into(),
    };
    let answers = response["formResponse"]["answers"]
        .as_array()
        .ok_or_else(|| malformed("no formResponse.answers"))?;
    let questions = form["content"]["questions"]
        .as_array()
        .ok_or_else(|| malformed("no content.questions"))?;
    Ok(answers
        .iter()
        .filter_map(|a| {
            let qid = a["questionId"].as_i64()?;
            let q = questions.iter().find(|q| q["questionId"].as_i64() == Some(qid))?;
            let name = q["predefinedField"]
                .as_str()
                .or_else(|| q["name"].as_str())?
                .to_owned();
            let details = &a["answerDetails"];
            let value = details["textQuestionAnswer"]["answer"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| {
                    details["multipleChoiceAnswer"]["options"]
                        .as_array()
                        .map(|o| o.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "))
                })?;
            Some((name, value))
        })
        .collect())
}

#[async_trait::async_trait]
impl LeadFetcher for PlatformClient {
    fn webhook_policy(&self) -> crate::domain::webhook_target::TargetPolicy {
        self.webhooks
    }

    fn check_base_url(&self, platform: &'static str, url: &str) -> Result<(), FetchError> {
        check_platform_url(platform, url, self.any_host)
    }

    async fn meta_lead(&self, cfg: &MetaConfig, leadgen_id: &str) -> Result<PlatformLead, FetchError> {
        self.check_base_url("meta", &cfg.graph_base_url)?;
        let url = format!(
            "{}/{}",
            cfg.graph_base_url.trim_end_matches('/'),
            encode(leadgen_id)
        );
        let ask = |fields: &str| {
            self.http.get(&url).query(&[
                ("access_token", cfg.page_access_token.as_str()),
                ("fields", fields),
            ])
        };
        // Without `fields` the Graph lead has no campaign or ad set; but reading them needs
        // the `ads_management` permission, which a page token made for lead retrieval alone
        // lacks. Refused (400, 403), the lead is asked for again without them: the answers
        // matter more than the campaign.
        let lead = match self
            .get_json(
                "meta",
                ask("field_data,campaign_id,adset_id,ad_id,form_id,created_time"),
            )
            .await
        {
            Err(FetchError::Status {
                status: 400 | 403, ..
            }) => {
                self.get_json("meta", ask("field_data,ad_id,form_id,created_time"))
                    .await?
            }
            other => other?,
        };
        Ok(PlatformLead {
            answers: meta_field_data(&lead)?,
            ad: crate::domain::capture::meta_graph_ad(&lead),
        })
    }

    async fn linkedin_response(
        &self,
        cfg: &LinkedinConfig,
        response_urn: &str,
    ) -> Result<PlatformLead, FetchError> {
        self.check_base_url("linkedin", &cfg.api_base_url)?;
        let base = cfg.api_base_url.trim_end_matches('/');
        let headed = |url: String| {
            self.http
                .get(url)
                .bearer_auth(&cfg.access_token)
                .header("LinkedIn-Version", "202601")
                .header("X-Restli-Protocol-Version", "2.0.0")
        };
        // The REST resource is keyed by the id after the URN prefix.
        let id = response_urn
            .strip_prefix("urn:li:leadGenFormResponse:")
            .unwrap_or(response_urn);
        let response = self
            .get_json(
                "linkedin",
                headed(format!("{base}/leadFormResponses/{}", encode(id))),
            )
            .await?;
        let ad = crate::domain::capture::linkedin_ad(&response);
        let form_id = ad.form_id.clone().ok_or_else(|| FetchError::Malformed {
            platform: "linkedin",
            message: "no lead form in the response".into(),
        })?;
        let form = self
            .get_json("linkedin", headed(format!("{base}/leadForms/{form_id}")))
            .await?;
        Ok(PlatformLead {
            answers: linkedin_answers(&response, &form)?,
            ad,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_cfg(graph_base_url: String) -> MetaConfig {
        MetaConfig {
            verify_token: "v".repeat(10),
            app_secret: "s".repeat(10),
            page_access_token: "page-token".into(),
            graph_base_url,
            source: crate::domain::SourceId::parse("social-media").unwrap(),
        }
    }

    #[test]
    fn when_a_base_url_is_not_the_platforms_https_host_should_refuse_it() {
        for ok in ["https://graph.facebook.com/v19.0", "https://graph.facebook.com"] {
            assert!(check_platform_url("meta", ok, false).is_ok(), "{ok}");
        }
        assert!(check_platform_url("linkedin", "https://api.linkedin.com/rest", false).is_ok());
        for bad in [
            "http://graph.facebook.com/v19.0",
            "https://graph.facebook.com.evil.example/v19.0",
            "https://127.0.0.1/v19.0",
            "https://graph.facebook.com:8443/v19.0",
            "https://user:pw@graph.facebook.com/v19.0",
            "https://api.linkedin.com/rest",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(check_platform_url("meta", bad, false).is_err(), "{bad}");
        }
        assert!(check_platform_url("meta", "http://127.0.0.1:9/graph", true).is_ok());
        assert!(check_platform_url("meta", "ftp://127.0.0.1/graph", true).is_err());
    }

    #[tokio::test]
    async fn when_the_base_url_points_elsewhere_should_send_nothing() {
        // A listener that records whether anything connected.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cfg = meta_cfg(format!("http://{addr}/graph"));
        let err = PlatformClient::new().meta_lead(&cfg, "123").await.unwrap_err();
        assert!(matches!(err, FetchError::NotAllowed { .. }), "{err:?}");
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(
            accepted.is_err(),
            "the strict client connected to a loopback base URL"
        );
    }

    /// A redirect is not followed (it would take the token to a host nobody checked), and a
    /// failure is told without the transport's words (which would map the network).
    #[tokio::test]
    async fn when_the_platform_redirects_or_is_unreachable_should_not_follow_or_tell() {
        use axum::routing::get;
        let followed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = followed.clone();
        let app = axum::Router::new()
            .route(
                "/graph/{id}",
                get(|| async { axum::response::Redirect::temporary("/elsewhere") }),
            )
            .route(
                "/elsewhere",
                get(move || {
                    seen.store(true, std::sync::atomic::Ordering::SeqCst);
                    async { "{}" }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = PlatformClient::allowing_any_host();
        let err = client
            .meta_lead(&meta_cfg(format!("http://{addr}/graph")), "123")
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Status { status: 307, .. }), "{err:?}");
        assert!(
            !followed.load(std::sync::atomic::Ordering::SeqCst),
            "the redirect was followed"
        );
        // Nothing listens on port 9 here: the message says so in our words only.
        let err = client
            .meta_lead(&meta_cfg("http://127.0.0.1:9/graph".into()), "123")
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "meta could not be reached");
    }

    /// A page token made for lead retrieval alone may not read a lead's ad fields: Graph
    /// refuses the request that asks for them, and the lead is read again without them.
    #[tokio::test]
    async fn when_the_token_may_not_read_ads_should_fetch_the_answers_without_them() {
        use axum::extract::{Path, Query};
        use axum::routing::get;
        let app = axum::Router::new().route(
            "/graph/{id}",
            get(
                |Path(id): Path<String>, Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    let fields = q.get("fields").cloned().unwrap_or_default();
                    if fields.contains("campaign_id") || fields.contains("adset_id") {
                        let body = r#"{"error":{"message":"(#200) requires ads_management","code":200}}"#;
                        return (axum::http::StatusCode::FORBIDDEN, body).into_response();
                    }
                    axum::Json(serde_json::json!({
                        "id": id, "ad_id": "238471923", "form_id": "887766",
                        "field_data": [{"name": "email", "values": ["joe@example.com"]}]
                    }))
                    .into_response()
                },
            ),
        );
        use axum::response::IntoResponse;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let lead = PlatformClient::allowing_any_host()
            .meta_lead(&meta_cfg(format!("http://{addr}/graph")), "123")
            .await
            .unwrap();
        assert_eq!(lead.answers, [("email".to_owned(), "joe@example.com".to_owned())]);
        assert_eq!(lead.ad.campaign_id, None);
        assert_eq!(lead.ad.ad_id.as_deref(), Some("238471923"));
    }
}
