//! Plans: which thumbnails a user gets, and whether originals and expiring links are offered.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::page::positioned;
use crate::quota::QuotaLimits;
use crate::validation::ValidationError;

pub use crate::id::PlanId;

impl PlanId {
    /// The built-in Basic plan.
    pub const BASIC: Self = Self::from_uuid(uuid::uuid!("00000000-0000-7000-8000-00000000b001"));
    /// The built-in Premium plan.
    pub const PREMIUM: Self = Self::from_uuid(uuid::uuid!("00000000-0000-7000-8000-00000000b002"));
    /// The built-in Enterprise plan.
    pub const ENTERPRISE: Self =
        Self::from_uuid(uuid::uuid!("00000000-0000-7000-8000-00000000b003"));
}

/// The maximum height of a thumbnail in pixels: `1..=10000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ThumbnailHeight(u32);

impl ThumbnailHeight {
    /// The smallest allowed height.
    pub const MIN: u32 = 1;
    /// The largest allowed height.
    pub const MAX: u32 = 10_000;
    /// The smallest height, as a value.
    pub const SMALLEST: Self = Self(Self::MIN);

    /// Checks that `pixels` is within `1..=10000`.
    pub fn new(pixels: u32) -> Result<Self, ValidationError> {
        if (Self::MIN..=Self::MAX).contains(&pixels) {
            Ok(Self(pixels))
        } else {
            Err(Self::out_of_range(pixels))
        }
    }

    /// Parses one height written in decimal digits, as a form field holds it.
    ///
    /// ```
    /// use imagevault_core::ThumbnailHeight;
    /// assert_eq!(ThumbnailHeight::parse("200").unwrap().get(), 200);
    /// assert!(ThumbnailHeight::parse("99999999999").is_err());
    /// assert!(ThumbnailHeight::parse("2e2").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(ValidationError::new(
                "thumbnail_heights",
                format!("“{text}” is not a height in pixels; write whole numbers such as 200 400."),
            ));
        }
        // All digits: the only way to fail is a number too large for a u32, out of range too.
        text.parse::<u32>()
            .map_err(|_| Self::out_of_range(text))
            .and_then(Self::new)
    }

    /// A height given as any integer (a JSON number, say): out of `u32` is out of range,
    /// with the same message as a `u32` out of range.
    ///
    /// ```
    /// use imagevault_core::ThumbnailHeight;
    /// assert_eq!(ThumbnailHeight::from_integer(200).unwrap().get(), 200);
    /// assert!(ThumbnailHeight::from_integer(-1).unwrap_err().message.contains("between 1 and"));
    /// ```
    pub fn from_integer(pixels: i64) -> Result<Self, ValidationError> {
        u32::try_from(pixels)
            .map_err(|_| Self::out_of_range(pixels))
            .and_then(Self::new)
    }

    fn out_of_range(shown: impl std::fmt::Display) -> ValidationError {
        ValidationError::new(
            "thumbnail_heights",
            format!(
                "Thumbnail height {shown} is out of range; each height must be between {} and {}.",
                Self::MIN,
                Self::MAX
            ),
        )
    }

    /// The height in pixels.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl std::fmt::Display for ThumbnailHeight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A plan's thumbnail heights: at least one, no duplicates, kept in ascending order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ThumbnailHeights(Vec<ThumbnailHeight>);

impl ThumbnailHeights {
    /// At most this many heights per plan, so that one upload's work stays bounded.
    pub const MAX_COUNT: usize = 16;

    /// Validates and sorts `heights`.
    ///
    /// ```
    /// use imagevault_core::ThumbnailHeights;
    /// let heights = ThumbnailHeights::new([400, 200]).unwrap();
    /// assert_eq!(heights.pixels().collect::<Vec<_>>(), [200, 400]);
    /// assert!(ThumbnailHeights::new([200, 200]).is_err());
    /// assert!(ThumbnailHeights::new([]).is_err());
    /// ```
    pub fn new(heights: impl IntoIterator<Item = u32>) -> Result<Self, ValidationError> {
        let mut sorted = heights
            .into_iter()
            .map(ThumbnailHeight::new)
            .collect::<Result<Vec<_>, _>>()?;
        if sorted.is_empty() {
            return Err(ValidationError::new(
                "thumbnail_heights",
                "At least one thumbnail height is required.",
            ));
        }
        if sorted.len() > Self::MAX_COUNT {
            return Err(ValidationError::new(
                "thumbnail_heights",
                format!(
                    "A plan may have at most {} thumbnail heights; {} were given.",
                    Self::MAX_COUNT,
                    sorted.len()
                ),
            ));
        }
        sorted.sort_unstable();
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(ValidationError::new(
                "thumbnail_heights",
                format!(
                    "Thumbnail height {} is listed twice; heights must be unique.",
                    pair[0]
                ),
            ));
        }
        Ok(Self(sorted))
    }

    /// Parses heights written as text, separated by spaces or commas (`"200 400"`,
    /// `"200, 400"`), as a form field holds them; the rules are those of [`Self::new`].
    ///
    /// ```
    /// use imagevault_core::ThumbnailHeights;
    /// let heights = ThumbnailHeights::parse(" 400, 200 ").unwrap();
    /// assert_eq!(heights.to_string(), "200 400");
    /// assert!(ThumbnailHeights::parse("200 tall").is_err());
    /// assert!(ThumbnailHeights::parse("").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let heights = text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|part| !part.is_empty())
            .map(|part| ThumbnailHeight::parse(part).map(ThumbnailHeight::get))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(heights)
    }

    /// The heights, ascending.
    pub fn as_slice(&self) -> &[ThumbnailHeight] {
        &self.0
    }

    /// The heights in pixels, ascending.
    pub fn pixels(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().map(|height| height.get())
    }

    /// Whether `height` is one of the plan's heights.
    pub fn contains(&self, height: ThumbnailHeight) -> bool {
        self.0.binary_search(&height).is_ok()
    }
}

/// The heights in pixels, ascending, separated by spaces: the text
/// [`ThumbnailHeights::parse`] reads back.
impl std::fmt::Display for ThumbnailHeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, height) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            height.fmt(f)?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for ThumbnailHeights {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Vec::<u32>::deserialize(deserializer)?;
        Self::new(raw).map_err(serde::de::Error::custom)
    }
}

/// A format a plan's thumbnails are made in, besides or as the original's.
///
/// Serialized as the lowercase names in [`ThumbnailFormat::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThumbnailFormat {
    /// The original's own format (PNG or JPEG): the `url` of every thumbnail. Always listed.
    Original,
    /// An extra lossy WebP file of each thumbnail (alpha kept), its `webp_url`.
    Webp,
}

impl ThumbnailFormat {
    /// Every format a plan may list, in the order lists and messages name them: the one
    /// list the API, the console, the CLI and the OpenAPI document read.
    pub const ALL: [Self; 2] = [Self::Original, Self::Webp];

    /// The name in the API: `"original"` or `"webp"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Original => "original",
            Self::Webp => "webp",
        }
    }

    /// The format named `text` (exactly as [`as_str`](Self::as_str) writes it), or a
    /// validation error naming the allowed values.
    ///
    /// ```
    /// use imagevault_core::ThumbnailFormat;
    /// assert_eq!(ThumbnailFormat::parse("webp").unwrap(), ThumbnailFormat::Webp);
    /// let error = ThumbnailFormat::parse("avif").unwrap_err();
    /// assert!(error.message.contains("original, webp"), "{}", error.message);
    /// ```
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|format| format.as_str() == text)
            .ok_or_else(|| {
                ValidationError::new(
                    ThumbnailFormats::FIELD,
                    format!(
                        "“{text}” is not a thumbnail format; allowed values are {}.",
                        ThumbnailFormats::allowed_values()
                    ),
                )
            })
    }
}

impl std::fmt::Display for ThumbnailFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The formats a plan's thumbnails are made in: always [`ThumbnailFormat::Original`],
/// no duplicates, kept in the order of [`ThumbnailFormat::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ThumbnailFormats(Vec<ThumbnailFormat>);

impl ThumbnailFormats {
    /// The input field these formats are validated as.
    pub const FIELD: &'static str = "thumbnail_formats";

    /// The original's format only: the default, and what the built-in plans have.
    pub fn original_only() -> Self {
        Self(vec![ThumbnailFormat::Original])
    }

    /// The allowed values, as messages and documentation name them: `original, webp`.
    pub fn allowed_values() -> String {
        ThumbnailFormat::ALL.map(ThumbnailFormat::as_str).join(", ")
    }

    /// Validates `formats`: known values, `original` among them, none twice.
    ///
    /// ```
    /// use imagevault_core::{ThumbnailFormat, ThumbnailFormats};
    /// let formats = ThumbnailFormats::new([ThumbnailFormat::Webp, ThumbnailFormat::Original]).unwrap();
    /// assert!(formats.contains(ThumbnailFormat::Webp));
    /// assert_eq!(formats.to_string(), "original,webp");
    /// assert!(ThumbnailFormats::new([ThumbnailFormat::Webp]).is_err());
    /// ```
    pub fn new(
        formats: impl IntoIterator<Item = ThumbnailFormat>,
    ) -> Result<Self, ValidationError> {
        let mut sorted: Vec<ThumbnailFormat> = formats.into_iter().collect();
        sorted.sort_unstable();
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(ValidationError::new(
                Self::FIELD,
                format!(
                    "Thumbnail format {} is listed twice; formats must be unique.",
                    pair[0]
                ),
            ));
        }
        if !sorted.contains(&ThumbnailFormat::Original) {
            return Err(ValidationError::new(
                Self::FIELD,
                format!(
                    "Thumbnail formats must include “original”; allowed values are {}.",
                    Self::allowed_values()
                ),
            ));
        }
        Ok(Self(sorted))
    }

    /// Validates formats given by name, as JSON and the CLI give them.
    ///
    /// ```
    /// use imagevault_core::ThumbnailFormats;
    /// assert!(ThumbnailFormats::from_names(["original", "webp"]).is_ok());
    /// assert!(ThumbnailFormats::from_names(["original", "gif"]).is_err());
    /// ```
    pub fn from_names<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ValidationError> {
        let formats = names
            .into_iter()
            .map(ThumbnailFormat::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(formats)
    }

    /// Parses names separated by commas or spaces (`"original,webp"`), as a form field or
    /// a command-line option holds them; the rules are those of [`Self::new`].
    ///
    /// ```
    /// use imagevault_core::{ThumbnailFormat, ThumbnailFormats};
    /// let formats = ThumbnailFormats::parse("original, webp").unwrap();
    /// assert!(formats.contains(ThumbnailFormat::Webp));
    /// assert_eq!(ThumbnailFormats::parse(&formats.to_string()).unwrap(), formats);
    /// ```
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        Self::from_names(
            text.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|part| !part.is_empty()),
        )
    }

    /// The formats, in the order of [`ThumbnailFormat::ALL`].
    pub fn as_slice(&self) -> &[ThumbnailFormat] {
        &self.0
    }

    /// Whether `format` is listed.
    pub fn contains(&self, format: ThumbnailFormat) -> bool {
        self.0.contains(&format)
    }

    /// Whether a WebP file is made of each thumbnail.
    pub fn webp(&self) -> bool {
        self.contains(ThumbnailFormat::Webp)
    }
}

impl Default for ThumbnailFormats {
    fn default() -> Self {
        Self::original_only()
    }
}

/// The names separated by commas: the text [`ThumbnailFormats::parse`] reads back.
impl std::fmt::Display for ThumbnailFormats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, format) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            format.fmt(f)?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for ThumbnailFormats {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Vec::<String>::deserialize(deserializer)?;
        Self::from_names(raw.iter().map(String::as_str)).map_err(serde::de::Error::custom)
    }
}

/// A plan's name: 1 to 100 characters, not blank, unique among plans.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PlanName(String);

impl PlanName {
    /// The longest name allowed, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Trims surrounding white space and checks the length.
    pub fn parse(name: &str) -> Result<Self, ValidationError> {
        let trimmed = name.trim();
        if trimmed.is_empty() {
            return Err(ValidationError::new("name", "This field may not be blank."));
        }
        let chars = trimmed.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(ValidationError::new(
                "name",
                format!(
                    "Ensure this field has no more than {} characters; it has {chars}.",
                    Self::MAX_CHARS
                ),
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "name",
                "Control characters are not allowed in a plan name.",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PlanName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a plan grants, without identity: the input to create or replace a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSpec {
    /// Unique name.
    pub name: PlanName,
    /// Heights of the thumbnails every image gets.
    pub thumbnail_heights: ThumbnailHeights,
    /// The formats each thumbnail is made in (see [`ThumbnailFormats`]).
    pub thumbnail_formats: ThumbnailFormats,
    /// Whether the original upload is linked.
    pub original_link: bool,
    /// Whether the user may create expiring links.
    pub expiring_links: bool,
    /// How many images, and bytes of originals, each user may keep.
    pub quota: QuotaLimits,
    /// Whether uploads lose their private metadata (EXIF but the orientation, XMP, IPTC,
    /// comments, text chunks) before the original is stored; see
    /// [`strip_metadata`](crate::imaging::strip_metadata).
    pub strip_metadata: bool,
}

/// A stored plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Identity.
    pub id: PlanId,
    /// Unique name.
    pub name: PlanName,
    /// Heights of the thumbnails every image gets, ascending.
    pub thumbnail_heights: ThumbnailHeights,
    /// The formats each thumbnail is made in: `original`, and `webp` for an extra WebP file.
    pub thumbnail_formats: ThumbnailFormats,
    /// Whether the original upload is linked.
    pub original_link: bool,
    /// Whether the user may create expiring links.
    pub expiring_links: bool,
    /// How many images, and bytes of originals, each user may keep.
    pub quota: QuotaLimits,
    /// Whether uploads lose their private metadata before the original is stored (see
    /// [`PlanSpec::strip_metadata`]). Images stored before it was turned on keep theirs.
    pub strip_metadata: bool,
    /// When the plan was created.
    pub created_at: DateTime<Utc>,
}

impl Plan {
    /// A new plan from `spec`, with a fresh id.
    pub fn new(spec: PlanSpec, created_at: DateTime<Utc>) -> Self {
        Self {
            id: PlanId::new(),
            name: spec.name,
            thumbnail_heights: spec.thumbnail_heights,
            thumbnail_formats: spec.thumbnail_formats,
            original_link: spec.original_link,
            expiring_links: spec.expiring_links,
            quota: spec.quota,
            strip_metadata: spec.strip_metadata,
            created_at,
        }
    }

    /// The plan with its grants replaced by `spec`; identity and creation time are kept.
    pub fn with_spec(&self, spec: PlanSpec) -> Self {
        Self {
            id: self.id,
            name: spec.name,
            thumbnail_heights: spec.thumbnail_heights,
            thumbnail_formats: spec.thumbnail_formats,
            original_link: spec.original_link,
            expiring_links: spec.expiring_links,
            quota: spec.quota,
            strip_metadata: spec.strip_metadata,
            created_at: self.created_at,
        }
    }

    /// The three plans every installation starts with: Basic, Premium and Enterprise.
    ///
    /// Their ids are fixed ([`PlanId::BASIC`], ...) so that every repository creates the same rows.
    pub fn builtin() -> [Plan; 3] {
        let created_at = DateTime::<Utc>::UNIX_EPOCH;
        let plan = |id, name: &str, heights: &[u32], original_link, expiring_links| Plan {
            id,
            name: PlanName(name.to_owned()),
            thumbnail_heights: ThumbnailHeights(
                heights.iter().map(|&h| ThumbnailHeight(h)).collect(),
            ),
            thumbnail_formats: ThumbnailFormats::original_only(),
            original_link,
            expiring_links,
            quota: QuotaLimits::UNLIMITED,
            strip_metadata: false,
            created_at,
        };
        [
            plan(PlanId::BASIC, "Basic", &[200], false, false),
            plan(PlanId::PREMIUM, "Premium", &[200, 400], true, false),
            plan(PlanId::ENTERPRISE, "Enterprise", &[200, 400], true, true),
        ]
    }
}

positioned!(Plan);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heights_are_sorted_unique_and_bounded() {
        let heights = ThumbnailHeights::new([400, 1, 10_000]).unwrap();
        assert_eq!(heights.pixels().collect::<Vec<_>>(), [1, 400, 10_000]);
        let error = ThumbnailHeights::new([0]).unwrap_err();
        assert_eq!(error.field, "thumbnail_heights");
        assert!(
            error.message.contains("between 1 and 10000"),
            "{}",
            error.message
        );
        assert!(ThumbnailHeights::new([10_001]).is_err());
        let duplicate = ThumbnailHeights::new([300, 200, 300]).unwrap_err();
        assert!(
            duplicate.message.contains("300 is listed twice"),
            "{}",
            duplicate.message
        );
        assert!(
            ThumbnailHeights::new([])
                .unwrap_err()
                .message
                .contains("At least one")
        );
        assert!(
            ThumbnailHeights::new(1..=17)
                .unwrap_err()
                .message
                .contains("at most 16")
        );
    }

    #[test]
    fn heights_parse_from_text_with_the_same_rules() {
        let heights = ThumbnailHeights::parse("400 200,100\t").unwrap();
        assert_eq!(heights.pixels().collect::<Vec<_>>(), [100, 200, 400]);
        assert_eq!(
            ThumbnailHeights::parse(&heights.to_string()).unwrap(),
            heights
        );
        let word = ThumbnailHeights::parse("200 tall").unwrap_err();
        assert_eq!(word.field, "thumbnail_heights");
        assert!(word.message.contains("“tall”"), "{}", word.message);
        assert!(
            ThumbnailHeights::parse("-5")
                .unwrap_err()
                .message
                .contains("“-5”")
        );
        let huge = ThumbnailHeights::parse("99999999999").unwrap_err();
        assert!(
            huge.message.contains("99999999999 is out of range"),
            "{}",
            huge.message
        );
        assert!(
            ThumbnailHeights::parse("0")
                .unwrap_err()
                .message
                .contains("between 1 and 10000")
        );
        assert!(
            ThumbnailHeights::parse("200 200")
                .unwrap_err()
                .message
                .contains("twice")
        );
        assert!(
            ThumbnailHeights::parse(" , ")
                .unwrap_err()
                .message
                .contains("At least one")
        );
    }

    #[test]
    fn heights_deserialize_through_validation() {
        let heights: ThumbnailHeights = serde_json::from_str("[400,200]").unwrap();
        assert_eq!(heights.pixels().collect::<Vec<_>>(), [200, 400]);
        assert!(serde_json::from_str::<ThumbnailHeights>("[200,200]").is_err());
    }

    #[test]
    fn plan_names_are_trimmed_and_bounded() {
        assert_eq!(PlanName::parse("  Gold ").unwrap().as_str(), "Gold");
        assert!(PlanName::parse("   ").is_err());
        assert!(PlanName::parse(&"x".repeat(101)).is_err());
        assert!(PlanName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn builtin_plans_match_the_api_contract() {
        let [basic, premium, enterprise] = Plan::builtin();
        assert_eq!(basic.name.as_str(), "Basic");
        assert_eq!(basic.thumbnail_heights.pixels().collect::<Vec<_>>(), [200]);
        assert!(!basic.original_link && !basic.expiring_links);
        assert_eq!(
            premium.thumbnail_heights.pixels().collect::<Vec<_>>(),
            [200, 400]
        );
        assert!(premium.original_link && !premium.expiring_links);
        assert!(enterprise.original_link && enterprise.expiring_links);
        assert_eq!(enterprise.id, PlanId::ENTERPRISE);
        assert!(!basic.strip_metadata && !premium.strip_metadata && !enterprise.strip_metadata);
        for plan in [basic, premium, enterprise] {
            assert_eq!(plan.thumbnail_formats, ThumbnailFormats::original_only());
        }
    }

    #[test]
    fn thumbnail_formats_need_original_known_names_and_no_duplicates() {
        let both = ThumbnailFormats::from_names(["webp", "original"]).unwrap();
        assert_eq!(
            both.as_slice(),
            [ThumbnailFormat::Original, ThumbnailFormat::Webp]
        );
        assert!(both.webp());
        assert!(!ThumbnailFormats::default().webp());
        let unknown = ThumbnailFormats::from_names(["original", "avif"]).unwrap_err();
        assert_eq!(unknown.field, "thumbnail_formats");
        assert!(
            unknown.message.contains("“avif”") && unknown.message.contains("original, webp"),
            "{}",
            unknown.message
        );
        let without = ThumbnailFormats::from_names(["webp"]).unwrap_err();
        assert!(
            without.message.contains("must include “original”"),
            "{}",
            without.message
        );
        assert!(ThumbnailFormats::from_names([]).is_err());
        let twice = ThumbnailFormats::from_names(["original", "webp", "webp"]).unwrap_err();
        assert!(
            twice.message.contains("webp is listed twice"),
            "{}",
            twice.message
        );
        // Names are exact: the API's spelling, not a case-folded one.
        assert!(ThumbnailFormats::from_names(["original", "WebP"]).is_err());
    }

    #[test]
    fn thumbnail_formats_round_trip_through_text_and_json() {
        let formats = ThumbnailFormats::parse("original webp").unwrap();
        assert_eq!(
            ThumbnailFormats::parse(&formats.to_string()).unwrap(),
            formats
        );
        assert_eq!(
            serde_json::to_string(&formats).unwrap(),
            r#"["original","webp"]"#
        );
        let read: ThumbnailFormats = serde_json::from_str(r#"["webp","original"]"#).unwrap();
        assert_eq!(read, formats);
        assert!(serde_json::from_str::<ThumbnailFormats>(r#"["webp"]"#).is_err());
    }
}
