//! Typed identifiers: a UUID per entity, so an image id cannot be passed where a user id is meant.
//!
//! They live below the entities they name, so that a thumbnail, a link or a job can name an
//! image or a user without depending on the module that defines it.

/// Declares a UUID newtype with parsing, formatting and serde as a plain UUID string.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new time-ordered (v7) id: row ids sort by creation, which keeps indexes compact.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            /// Wraps an existing UUID, for example one read back from a database.
            pub const fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }

            /// Parses the hyphenated UUID form; `None` for anything else.
            pub fn parse(text: &str) -> Option<Self> {
                uuid::Uuid::try_parse(text).ok().map(Self)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(uuid: uuid::Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

uuid_id!(
    /// Identifies an [`Image`](crate::Image).
    ImageId
);

uuid_id!(
    /// Identifies an [`ExpiringLink`](crate::ExpiringLink).
    LinkId
);

uuid_id!(
    /// Identifies a [`Plan`](crate::Plan).
    PlanId
);

uuid_id!(
    /// Identifies a [`User`](crate::User).
    UserId
);

uuid_id!(
    /// Identifies a running process that holds thumbnail work: see
    /// [`HolderRecord`](crate::HolderRecord).
    HolderId
);
