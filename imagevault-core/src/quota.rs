//! Storage quotas: how many images, and how many bytes of originals, a user may keep.
//!
//! A plan states its limits ([`QuotaLimits`], `None` = unlimited); an administrator may
//! override each per user ([`QuotaOverride`]). The effective limit is the override, else the
//! plan's. Repositories enforce it in the transaction that records an image
//! ([`ImageRepo::insert_image`](crate::ImageRepo::insert_image)), so concurrent uploads
//! cannot pass it, and refuse with [`QuotaExceeded`].

use crate::image::Usage;
use crate::validation::ValidationError;

/// A plan's limits; `None` is unlimited. The default is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct QuotaLimits {
    /// The most images a user may keep.
    pub max_images: Option<u64>,
    /// The most bytes of originals (the sum of their `size`) a user may keep.
    pub max_bytes: Option<u64>,
}

impl QuotaLimits {
    /// No limits.
    pub const UNLIMITED: Self = Self {
        max_images: None,
        max_bytes: None,
    };
    /// The largest image count a limit may state.
    pub const MAX_IMAGES: u64 = 1_000_000_000;
    /// The largest byte count a limit may state: 1 PiB, well within a JSON number's exact
    /// integers (2^53) and a signed 64-bit column.
    pub const MAX_BYTES: u64 = 1 << 50;

    /// Parses a limit written in a form or on a command line: empty for none (unlimited),
    /// else decimal digits within the bounds of [`QuotaResource`].
    pub fn parse(
        resource: QuotaResource,
        field: &'static str,
        text: &str,
    ) -> Result<Option<u64>, ValidationError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(ValidationError::new(
                field,
                format!(
                    "“{text}” is not a whole number; write a number of {} from 0 to {}, or leave it empty for no limit.",
                    resource.unit(),
                    resource.max()
                ),
            ));
        }
        // All digits: a parse failure is a number too large for i128, out of range too.
        let value = text.parse::<i128>().unwrap_or(i128::MAX);
        resource.check(field, value).map(Some)
    }
}

/// The two things a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaResource {
    /// Images.
    Images,
    /// Bytes of originals.
    Bytes,
}

impl QuotaResource {
    /// The largest limit allowed.
    pub const fn max(self) -> u64 {
        match self {
            Self::Images => QuotaLimits::MAX_IMAGES,
            Self::Bytes => QuotaLimits::MAX_BYTES,
        }
    }

    /// Checks a limit of this resource given as any integer (a JSON number, say):
    /// `0..=`[`max`](Self::max). `field` names the input.
    ///
    /// ```
    /// use imagevault_core::QuotaResource;
    /// assert_eq!(QuotaResource::Images.check("max_images", 5).unwrap(), 5);
    /// assert!(QuotaResource::Images.check("max_images", -1).unwrap_err().message.contains("between 0 and"));
    /// ```
    pub fn check(self, field: &'static str, value: i128) -> Result<u64, ValidationError> {
        bounded(field, value, self.max(), self.unit())
    }

    fn unit(self) -> &'static str {
        match self {
            Self::Images => "images",
            Self::Bytes => "bytes",
        }
    }
}

fn bounded(field: &'static str, value: i128, max: u64, unit: &str) -> Result<u64, ValidationError> {
    u64::try_from(value)
        .ok()
        .filter(|&value| value <= max)
        .ok_or_else(|| {
            ValidationError::new(
                field,
                format!("{value} is out of range; a limit of {unit} must be between 0 and {max}."),
            )
        })
}

/// A user's override of one of the plan's limits.
///
/// In the admin API it is tri-state: a field left out keeps the override, `null` is
/// [`Plan`](Self::Plan), a number is [`Limit`](Self::Limit), and the string `"unlimited"`
/// is [`Unlimited`](Self::Unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum QuotaOverride {
    /// No override: the plan's limit applies.
    #[default]
    Plan,
    /// No limit, whatever the plan says.
    Unlimited,
    /// This limit, whatever the plan says.
    Limit(u64),
}

impl QuotaOverride {
    /// The word that means [`Unlimited`](Self::Unlimited) in the admin API, forms and the
    /// command line.
    pub const UNLIMITED_WORD: &'static str = "unlimited";
    /// The word that means [`Plan`](Self::Plan) in forms and on the command line.
    pub const PLAN_WORD: &'static str = "plan";

    /// The effective limit, given the plan's (`None` = unlimited).
    pub fn apply(self, plan_limit: Option<u64>) -> Option<u64> {
        match self {
            Self::Plan => plan_limit,
            Self::Unlimited => None,
            Self::Limit(limit) => Some(limit),
        }
    }

    /// Parses `plan`, `unlimited` or a number within the bounds of `resource`.
    ///
    /// ```
    /// use imagevault_core::{QuotaOverride, QuotaResource};
    /// assert_eq!(QuotaOverride::parse(QuotaResource::Images, "max_images", "7").unwrap(), QuotaOverride::Limit(7));
    /// assert_eq!(QuotaOverride::parse(QuotaResource::Bytes, "max_bytes", "unlimited").unwrap(), QuotaOverride::Unlimited);
    /// assert!(QuotaOverride::parse(QuotaResource::Images, "max_images", "lots").is_err());
    /// ```
    pub fn parse(
        resource: QuotaResource,
        field: &'static str,
        text: &str,
    ) -> Result<Self, ValidationError> {
        match text.trim() {
            Self::PLAN_WORD | "" => Ok(Self::Plan),
            Self::UNLIMITED_WORD => Ok(Self::Unlimited),
            number if number.bytes().all(|byte| byte.is_ascii_digit()) => {
                let value = number.parse::<i128>().unwrap_or(i128::MAX);
                resource.check(field, value).map(Self::Limit)
            }
            other => Err(ValidationError::new(
                field,
                format!(
                    "“{other}” is not a limit; write “{}”, “{}” or a number of {} from 0 to {}.",
                    Self::PLAN_WORD,
                    Self::UNLIMITED_WORD,
                    resource.unit(),
                    resource.max()
                ),
            )),
        }
    }
}

impl std::fmt::Display for QuotaOverride {
    /// The text [`QuotaOverride::parse`] reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Plan => f.write_str(Self::PLAN_WORD),
            Self::Unlimited => f.write_str(Self::UNLIMITED_WORD),
            Self::Limit(limit) => limit.fmt(f),
        }
    }
}

/// A user's overrides of their plan's limits; the default overrides nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct QuotaOverrides {
    /// Overrides the plan's `max_images`.
    pub max_images: QuotaOverride,
    /// Overrides the plan's `max_bytes`.
    pub max_bytes: QuotaOverride,
}

impl QuotaOverrides {
    /// The limits that apply: each override, else the plan's. A user without a plan has no
    /// plan limits (and cannot upload anyway).
    pub fn effective(&self, plan: Option<&QuotaLimits>) -> QuotaLimits {
        let plan = plan.copied().unwrap_or_default();
        QuotaLimits {
            max_images: self.max_images.apply(plan.max_images),
            max_bytes: self.max_bytes.apply(plan.max_bytes),
        }
    }

    /// Checks that one more image of `size` bytes fits beside `usage`; the refusal names
    /// the limit that would be passed (images first) and whether it is the plan's.
    ///
    /// ```
    /// use imagevault_core::{QuotaLimits, QuotaOverrides, Usage};
    /// let plan = QuotaLimits { max_images: Some(5), max_bytes: None };
    /// let full = Usage { images: 5, bytes: 100 };
    /// let refused = QuotaOverrides::default().admit(Some(&plan), full, 10).unwrap_err();
    /// assert_eq!(refused.to_string(), "Upload refused: your plan allows 5 images and you have 5.");
    /// ```
    pub fn admit(
        &self,
        plan: Option<&QuotaLimits>,
        usage: Usage,
        size: u64,
    ) -> Result<(), QuotaExceeded> {
        let limits = self.effective(plan);
        let refusal = |resource, limit, overridden: QuotaOverride| QuotaExceeded {
            resource,
            limit,
            usage,
            size,
            from_plan: overridden == QuotaOverride::Plan,
        };
        if let Some(limit) = limits.max_images
            && usage.images.saturating_add(1) > limit
        {
            return Err(refusal(QuotaResource::Images, limit, self.max_images));
        }
        if let Some(limit) = limits.max_bytes
            && usage.bytes.saturating_add(size) > limit
        {
            return Err(refusal(QuotaResource::Bytes, limit, self.max_bytes));
        }
        Ok(())
    }
}

/// A user's effective limits beside what they use, as the account page, `/api/me/` and
/// the administrators' user views show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaStatus {
    /// The limits that apply (overrides, else the plan's).
    pub limits: QuotaLimits,
    /// What the user's images take up.
    pub usage: Usage,
}

impl QuotaStatus {
    /// The limits of `overrides` over `plan` beside `usage`.
    pub fn new(overrides: &QuotaOverrides, plan: Option<&QuotaLimits>, usage: Usage) -> Self {
        Self {
            limits: overrides.effective(plan),
            usage,
        }
    }

    /// Whether usage is above a limit: allowed (a limit may be lowered below what a user
    /// has), and then no upload is accepted until enough is deleted.
    ///
    /// ```
    /// use imagevault_core::{QuotaLimits, QuotaStatus, Usage};
    /// let status = QuotaStatus {
    ///     limits: QuotaLimits { max_images: Some(2), max_bytes: None },
    ///     usage: Usage { images: 3, bytes: 0 },
    /// };
    /// assert!(status.is_over_limit());
    /// ```
    pub fn is_over_limit(&self) -> bool {
        self.limits
            .max_images
            .is_some_and(|limit| self.usage.images > limit)
            || self
                .limits
                .max_bytes
                .is_some_and(|limit| self.usage.bytes > limit)
    }

    /// Whether no image at all can be uploaded now: a limit reached or passed.
    pub fn is_full(&self) -> bool {
        self.limits
            .max_images
            .is_some_and(|limit| self.usage.images >= limit)
            || self
                .limits
                .max_bytes
                .is_some_and(|limit| self.usage.bytes >= limit)
    }
}

/// An upload refused because it would pass a limit. Its text is the answer the user gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct QuotaExceeded {
    /// Which limit would be passed.
    pub resource: QuotaResource,
    /// The limit.
    pub limit: u64,
    /// What the user had when the upload was refused.
    pub usage: Usage,
    /// The refused upload's size in bytes.
    pub size: u64,
    /// Whether the limit is the plan's (else the user's own override).
    pub from_plan: bool,
}

impl QuotaExceeded {
    fn describe(&self) -> String {
        let whose = if self.from_plan {
            "your plan allows"
        } else {
            "your account is allowed"
        };
        match self.resource {
            QuotaResource::Images => format!(
                "Upload refused: {whose} {} and you have {}.",
                count(self.limit, "image"),
                self.usage.images
            ),
            QuotaResource::Bytes => format!(
                "Upload refused: {whose} {} of images and you have {}; this image is {}.",
                size_text(self.limit),
                size_text(self.usage.bytes),
                size_text(self.size)
            ),
        }
    }
}

fn count(value: u64, noun: &str) -> String {
    if value == 1 {
        format!("1 {noun}")
    } else {
        format!("{value} {noun}s")
    }
}

/// A limit in words: `unlimited` for none, else the limit as `shown` writes it.
///
/// ```
/// use imagevault_core::{limit_text, size_text};
/// assert_eq!(limit_text(None, size_text), "unlimited");
/// assert_eq!(limit_text(Some(5), |n| format!("{n} images")), "5 images");
/// ```
pub fn limit_text(limit: Option<u64>, shown: impl Fn(u64) -> String) -> String {
    limit.map_or_else(|| QuotaOverride::UNLIMITED_WORD.to_owned(), shown)
}

/// A byte count for people, in binary units with one decimal: `512 B`, `1.5 KiB`,
/// `23.4 MiB`.
///
/// ```
/// assert_eq!(imagevault_core::human_size(1_572_864), "1.5 MiB");
/// assert_eq!(imagevault_core::human_size(512), "512 B");
/// ```
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Float precision is plenty for one decimal of a display value.
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A byte count for a message: [`human_size`] with the exact bytes beside it
/// (`1.5 MiB (1572864 bytes)`), or just the bytes below 1 KiB.
///
/// ```
/// assert_eq!(imagevault_core::size_text(1_572_864), "1.5 MiB (1572864 bytes)");
/// assert_eq!(imagevault_core::size_text(1), "1 byte");
/// ```
pub fn size_text(bytes: u64) -> String {
    if bytes < 1024 {
        count(bytes, "byte")
    } else {
        format!("{} ({bytes} bytes)", human_size(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: QuotaLimits = QuotaLimits {
        max_images: Some(2),
        max_bytes: Some(1000),
    };

    #[test]
    fn overrides_win_over_the_plan() {
        let overrides = QuotaOverrides {
            max_images: QuotaOverride::Unlimited,
            max_bytes: QuotaOverride::Limit(5),
        };
        assert_eq!(
            overrides.effective(Some(&PLAN)),
            QuotaLimits {
                max_images: None,
                max_bytes: Some(5)
            }
        );
        assert_eq!(QuotaOverrides::default().effective(Some(&PLAN)), PLAN);
        assert_eq!(
            QuotaOverrides::default().effective(None),
            QuotaLimits::UNLIMITED
        );
    }

    #[test]
    fn admission_stops_at_the_boundary() {
        let plain = QuotaOverrides::default();
        let usage = |images, bytes| Usage { images, bytes };
        assert!(plain.admit(Some(&PLAN), usage(1, 900), 100).is_ok());
        let images = plain.admit(Some(&PLAN), usage(2, 0), 1).unwrap_err();
        assert_eq!(images.resource, QuotaResource::Images);
        assert_eq!(
            images.to_string(),
            "Upload refused: your plan allows 2 images and you have 2."
        );
        let bytes = plain.admit(Some(&PLAN), usage(0, 900), 101).unwrap_err();
        assert_eq!(bytes.resource, QuotaResource::Bytes);
        assert_eq!(
            bytes.to_string(),
            "Upload refused: your plan allows 1000 bytes of images and you have 900 bytes; this image is 101 bytes."
        );
        let own = QuotaOverrides {
            max_images: QuotaOverride::Limit(0),
            ..plain
        };
        assert!(
            own.admit(Some(&PLAN), usage(0, 0), 1)
                .unwrap_err()
                .to_string()
                .contains("your account is allowed 0 images")
        );
    }

    #[test]
    fn limits_are_bounded_and_parsed_with_clear_errors() {
        assert_eq!(
            QuotaLimits::parse(QuotaResource::Images, "max_images", " ").unwrap(),
            None
        );
        assert_eq!(
            QuotaLimits::parse(QuotaResource::Bytes, "max_bytes", "1024").unwrap(),
            Some(1024)
        );
        let huge = QuotaLimits::parse(QuotaResource::Bytes, "max_bytes", "99999999999999999999")
            .unwrap_err();
        assert!(huge.message.contains("between 0 and"), "{}", huge.message);
        let word = QuotaLimits::parse(QuotaResource::Images, "max_images", "-3").unwrap_err();
        assert!(word.message.contains("“-3”"), "{}", word.message);
        assert!(QuotaResource::Bytes.check("max_bytes", -1).is_err());
        assert!(
            QuotaResource::Images
                .check("max_images", i128::from(QuotaLimits::MAX_IMAGES) + 1)
                .is_err()
        );
        for text in ["plan", "unlimited", "12"] {
            let parsed = QuotaOverride::parse(QuotaResource::Images, "max_images", text).unwrap();
            assert_eq!(parsed.to_string(), text);
        }
    }

    #[test]
    fn sizes_read_for_people_with_exact_bytes() {
        assert_eq!(size_text(0), "0 bytes");
        assert_eq!(size_text(1023), "1023 bytes");
        assert_eq!(size_text(1024), "1.0 KiB (1024 bytes)");
        assert_eq!(size_text(5 << 30), "5.0 GiB (5368709120 bytes)");
    }
}
