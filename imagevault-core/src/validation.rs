//! [`ValidationError`]: invalid input for one named field, the error every value type's
//! constructor returns.

/// Invalid input for one named field, in the vocabulary of the HTTP API
/// (`name`, `expiry_in_seconds`, `base_image`, `thumbnail_heights`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The input field that was wrong.
    pub field: &'static str,
    /// What was wrong and what is allowed, as a sentence for the user.
    pub message: String,
}

impl ValidationError {
    /// A validation error for `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
