//! The HTTPS client for ad-platform lead fetches (Meta Graph API, LinkedIn Lead Sync API).
//! Base URLs come from each tenant's channel settings, so tests point them at a local server.

use crate::domain::capture::{LinkedinConfig, MetaConfig};
use crate::ports::fetch::{Answers, FetchError, LeadFetcher};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct PlatformClient {
    http: reqwest::Client,
}

impl Default for PlatformClient {
    fn default() -> Self {
        Self::new()
    }
}

impl PlatformClient {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default();
        Self { http }
    }

    async fn get_json(
        &self,
        platform: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<Value, FetchError> {
        let res = req.send().await.map_err(|e| FetchError::Unreachable {
            platform,
            message: e.without_url().to_string(),
        })?;
        let status = res.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(FetchError::Status { platform, status });
        }
        res.json().await.map_err(|e| FetchError::Malformed {
            platform,
            message: e.without_url().to_string(),
        })
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

/// The form id inside `urn:li:versionedLeadGenForm:(urn:li:leadGenForm:123,1)`.
fn linkedin_form_id(response: &Value) -> Option<String> {
    let v = response["versionedLeadGenFormUrn"]
        .as_str()
        .or_else(|| response["leadGenForm"].as_str())?;
    let start = v.find("urn:li:leadGenForm:")? + "urn:li:leadGenForm:".len();
    let id: String = v[start..].chars().take_while(|c| c.is_ascii_digit()).collect();
    (!id.is_empty()).then_some(id)
}

#[async_trait::async_trait]
impl LeadFetcher for PlatformClient {
    async fn meta_lead(&self, cfg: &MetaConfig, leadgen_id: &str) -> Result<Answers, FetchError> {
        let url = format!(
            "{}/{}",
            cfg.graph_base_url.trim_end_matches('/'),
            encode(leadgen_id)
        );
        let req = self
            .http
            .get(url)
            .query(&[("access_token", cfg.page_access_token.as_str())]);
        meta_field_data(&self.get_json("meta", req).await?)
    }

    async fn linkedin_response(
        &self,
        cfg: &LinkedinConfig,
        response_urn: &str,
    ) -> Result<Answers, FetchError> {
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
        let form_id = linkedin_form_id(&response).ok_or_else(|| FetchError::Malformed {
            platform: "linkedin",
            message: "no lead form in the response".into(),
        })?;
        let form = self
            .get_json("linkedin", headed(format!("{base}/leadForms/{form_id}")))
            .await?;
        linkedin_answers(&response, &form)
    }
}
