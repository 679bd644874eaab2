//! The service error, [`VaultError`]: the top of the core, above every port's own error.
//!
//! Every message says what was wrong and what is allowed. HTTP status codes are not
//! decided here: an adapter such as `imagevault-axum` maps [`VaultError::code`] to them.

use crate::imaging::ImageError;
use crate::queue::QueueError;
use crate::quota::QuotaExceeded;
use crate::repo::{Conflict, RepoError};
use crate::storage::StorageError;
pub(crate) use crate::validation::ValidationError;

/// A feature a plan may or may not grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanFeature {
    /// Links to the original upload.
    OriginalLink,
    /// Expiring links to the original.
    ExpiringLinks,
}

impl std::fmt::Display for PlanFeature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::OriginalLink => "original links",
            Self::ExpiringLinks => "expiring links",
        })
    }
}

/// Everything the [`Vault`](crate::Vault) service can refuse or fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The uploaded file is not an acceptable image; the message names the problem.
    #[error("{0}")]
    Image(#[from] ImageError),
    /// The upload is larger than the configured byte limit.
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// One input field was invalid.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// Username and password (or token) did not match an account.
    #[error("unable to log in with the provided credentials")]
    InvalidCredentials,
    /// Too many failed logins for this username (or from this client): try again after
    /// `retry_after`. The attempt was not checked, so the answer says nothing about the
    /// credentials.
    #[error("too many failed logins; try again in {} seconds", retry_after.as_secs_f64().ceil())]
    Throttled {
        /// How long until the next attempt is allowed.
        retry_after: std::time::Duration,
    },
    /// The user has this many uploads in progress already, the most one user may have at
    /// once (see [`Vault::reserve_upload`](crate::Vault::reserve_upload)); try again when
    /// one has finished.
    #[error(
        "you have {limit} uploads in progress already, the most one user may have at once; try again when one has finished"
    )]
    TooManyUploads {
        /// The most uploads one user may have in progress.
        limit: usize,
    },
    /// Too many password checks are running or waiting: try again after `retry_after`. The
    /// attempt was not checked and not counted as a failure.
    #[error("too many logins are being checked; try again in {} seconds", retry_after.as_secs_f64().ceil())]
    Busy {
        /// When to try again.
        retry_after: std::time::Duration,
    },
    /// The upload would pass the user's quota; the message names the limit and the usage.
    #[error(transparent)]
    QuotaExceeded(#[from] QuotaExceeded),
    /// The user has no plan, and every image and link operation needs one.
    #[error("you have no plan; ask an administrator to assign one")]
    NoPlan,
    /// The user's plan does not include the feature.
    #[error("your plan does not include {0}")]
    PlanForbids(PlanFeature),
    /// The operation is for administrators only.
    #[error("you do not have permission to perform this action; administrators only")]
    AdminOnly,
    /// Not found, or not the caller's: the two are indistinguishable on purpose.
    #[error("not found")]
    NotFound,
    /// The expiring link existed but its time is up.
    #[error("this link has expired")]
    LinkExpired,
    /// The operation conflicts with existing state (for example deleting a plan in use).
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("the database is unavailable")]
    Repo(#[source] RepoError),
    /// Blob storage failed.
    #[error("storage is unavailable")]
    Storage(#[from] StorageError),
    /// The job queue failed.
    #[error("the job queue is unavailable")]
    Queue(#[from] QueueError),
    /// An invariant was broken inside imagevault (a bug, not bad input).
    #[error("internal error: {0}")]
    Internal(String),
}

impl VaultError {
    /// A stable kebab-case code for the error kind, for logs, metrics and adapters.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Image(_) => "invalid-image",
            Self::TooLarge { .. } => "too-large",
            Self::Validation(_) => "invalid-input",
            Self::InvalidCredentials => "invalid-credentials",
            Self::Throttled { .. } => "throttled",
            Self::TooManyUploads { .. } => "too-many-uploads",
            Self::Busy { .. } => "busy",
            Self::QuotaExceeded(_) => "quota-exceeded",
            Self::NoPlan => "no-plan",
            Self::PlanForbids(_) => "plan-forbids",
            Self::AdminOnly => "admin-only",
            Self::NotFound => "not-found",
            Self::LinkExpired => "link-expired",
            Self::Conflict(_) => "conflict",
            Self::Repo(_) => "repo-unavailable",
            Self::Storage(_) => "storage-unavailable",
            Self::Queue(_) => "queue-unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// Shorthand for a [`VaultError::Validation`].
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation(ValidationError::new(field, message))
    }
}

impl From<RepoError> for VaultError {
    fn from(error: RepoError) -> Self {
        match error {
            RepoError::Conflict(conflict) => Self::from_conflict(conflict),
            other => Self::Repo(other),
        }
    }
}

impl VaultError {
    /// A repository's conflict in the service's words: the field a form shows it beside, or
    /// `NotFound` for a missing reference (the caller may not learn what exists).
    fn from_conflict(conflict: Conflict) -> Self {
        match conflict {
            Conflict::UsernameTaken => {
                Self::invalid("username", "A user with that username already exists.")
            }
            Conflict::PlanNameTaken => {
                Self::invalid("name", "A plan with that name already exists.")
            }
            Conflict::PlanInUse => Self::Conflict(
                "This plan is still assigned to users; move them to another plan first.".into(),
            ),
            Conflict::MissingReference => Self::NotFound,
            Conflict::QuotaExceeded(refusal) => Self::QuotaExceeded(refusal),
        }
    }
}
