//! Who is asking: the gate resolves the bearer token to a workspace identity (its user or
//! application name and groups) and hands it to routes that decide by identity (ownership,
//! permissions, job `run_as`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// The group whose members manage everything in the workspace.
pub const ADMINS: &str = "admins";
/// The group every workspace identity belongs to.
pub const USERS: &str = "users";

/// The identity behind a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// A user's e-mail, or a service principal's application id.
    pub name: String,
    /// Display names of the groups it is a direct member of (`users` is implied).
    pub groups: Vec<String>,
}

impl Caller {
    /// The workspace's own identity (the personal access token's admin user): what requests
    /// are made as when auth is off.
    pub fn owner() -> Self {
        Self {
            name: crate::USER_NAME.to_string(),
            groups: vec![ADMINS.to_string()],
        }
    }

    pub fn is_admin(&self) -> bool {
        self.in_group(ADMINS)
    }

    /// Whether it is a member of `group` (every identity is in `users`), by display name.
    pub fn in_group(&self, group: &str) -> bool {
        group.eq_ignore_ascii_case(USERS)
            || self.groups.iter().any(|g| g.eq_ignore_ascii_case(group))
    }

    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or_else(Caller::owner))
    }
}
