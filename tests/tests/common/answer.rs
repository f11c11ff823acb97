//! One HTTP answer from a server under test, whatever its status, and what every API error
//! answer must hold.

use serde_json::Value;
use std::time::Duration;

/// Bounds a hang; never a speed assertion.
pub const CALL_LIMIT: Duration = Duration::from_secs(60);

/// A client that gives up after [`CALL_LIMIT`].
pub fn http_agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(CALL_LIMIT).build()
}

/// One HTTP answer: its status, the headers tests look at and its body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub text: String,
    /// The body as JSON; `Value::Null` when it is not JSON.
    pub json: Value,
    pub allow: Option<String>,
    pub retry_after: Option<String>,
    pub www_authenticate: Option<String>,
}

impl Answer {
    /// Reads what ureq got for `method url`: an `Err(Status)` is an answer too; any other
    /// error ends the test.
    pub fn read(method: &str, url: &str, result: Result<ureq::Response, ureq::Error>) -> Answer {
        let response = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {url}: {e}"),
        };
        let header = |name: &str| response.header(name).map(str::to_string);
        let (allow, retry_after) = (header("allow"), header("retry-after"));
        let www_authenticate = header("www-authenticate");
        let status = response.status();
        let text = response.into_string().expect("a readable body");
        Answer {
            status,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
            allow,
            retry_after,
            www_authenticate,
        }
    }

    /// A 200 (the body is the message if not).
    pub fn assert_ok(&self) {
        assert_eq!(self.status, 200, "{}", self.text);
    }

    /// An API error: `status`, `error_code` and a message that says something.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.json["error_code"], code, "{}", self.text);
        assert!(
            self.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            self.text
        );
    }
}
