//! [`BoxError`]: how every port error keeps its backend's cause without naming the backend.

/// A boxed error from a backend, kept as the source of a port error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
