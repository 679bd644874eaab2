//! Errors: [`SetupError`] for connecting and migrating, and the mapping of sqlx errors to
//! the core's [`RepoError`] (constraint violations become [`Conflict`]s).

use imagevault_core::repo::{Conflict, RepoError};
use imagevault_core::storage::BoxError;

/// Connecting to a database or migrating it failed.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # #[cfg(feature = "sqlite")] {
/// use imagevault_sqlx::{SetupError, SqliteRepo};
///
/// let dir = tempfile::tempdir().unwrap();
/// // Without `?mode=rwc` a missing file is not created.
/// let url = format!("sqlite://{}", dir.path().join("missing.db").display());
/// let error = SqliteRepo::connect(&url).await.unwrap_err();
/// assert!(matches!(error, SetupError::Connect { backend: "sqlite", .. }));
/// # }
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The connection URL is not one the backend understands.
    #[error("invalid {backend} database url")]
    InvalidUrl {
        /// `"postgres"` or `"sqlite"`.
        backend: &'static str,
        /// What was wrong with it.
        #[source]
        source: BoxError,
    },
    /// The database could not be reached or opened.
    #[error("could not connect to the {backend} database")]
    Connect {
        /// `"postgres"` or `"sqlite"`.
        backend: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Applying the embedded migrations failed.
    #[error("migrating the {backend} database failed")]
    Migrate {
        /// `"postgres"` or `"sqlite"`.
        backend: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

/// A stored value that the domain rejects: the database was changed behind our back.
#[derive(Debug, thiserror::Error)]
#[error("a stored row is invalid: {0}")]
pub(crate) struct InvalidRow(pub(crate) String);

/// A value that cannot be stored as given (a size beyond `i64`).
#[derive(Debug, thiserror::Error)]
#[error("a value cannot be stored: {0}")]
pub(crate) struct Unstorable(pub(crate) String);

/// A backend failure of `backend`.
pub(crate) fn backend(backend: &'static str, source: impl Into<BoxError>) -> RepoError {
    RepoError::Backend {
        backend,
        source: source.into(),
    }
}

/// What a write's constraint violations mean for the caller. Violations not named here
/// (a duplicate primary key, say) are backend errors: callers never cause them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Violations {
    /// The conflict for a unique violation other than of a primary key.
    pub(crate) unique: Option<Conflict>,
    /// The conflict for a foreign key violation.
    pub(crate) foreign_key: Option<Conflict>,
}

impl Violations {
    /// Every violation is a backend error: the statement cannot cause one the caller should
    /// hear of.
    pub(crate) const NONE: Self = Self {
        unique: None,
        foreign_key: None,
    };

    /// Foreign key violations are [`Conflict::MissingReference`].
    pub(crate) const MISSING_REFERENCE: Self = Self {
        unique: None,
        foreign_key: Some(Conflict::MissingReference),
    };

    /// Creating or renaming a plan: a taken name.
    pub(crate) const PLAN_NAME: Self = Self {
        unique: Some(Conflict::PlanNameTaken),
        foreign_key: None,
    };

    /// Deleting a plan: users still have it.
    pub(crate) const PLAN_DELETE: Self = Self {
        unique: None,
        foreign_key: Some(Conflict::PlanInUse),
    };

    /// Creating or changing a user: a taken username or an unknown plan.
    pub(crate) const USER: Self = Self {
        unique: Some(Conflict::UsernameTaken),
        foreign_key: Some(Conflict::MissingReference),
    };

    /// Maps `error` of a write by `backend`, using the error's kind, never its message.
    pub(crate) fn map(self, backend_name: &'static str, error: sqlx::Error) -> RepoError {
        if let sqlx::Error::Database(database) = &error {
            if database.is_unique_violation()
                && !is_primary_key(database.as_ref())
                && let Some(conflict) = self.unique
            {
                return conflict.into();
            }
            if database.is_foreign_key_violation()
                && let Some(conflict) = self.foreign_key
            {
                return conflict.into();
            }
        }
        backend(backend_name, error)
    }
}

/// Whether a unique violation is of a primary key: PostgreSQL names the constraint
/// `<table>_pkey`; SQLite has its own extended result code, `SQLITE_CONSTRAINT_PRIMARYKEY`.
fn is_primary_key(error: &dyn sqlx::error::DatabaseError) -> bool {
    const SQLITE_CONSTRAINT_PRIMARYKEY: &str = "1555";
    error
        .constraint()
        .is_some_and(|constraint| constraint.ends_with("_pkey"))
        || error.code().as_deref() == Some(SQLITE_CONSTRAINT_PRIMARYKEY)
}
