//! RFC 3339 times as written in the config and the admin API, to and from Unix seconds.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Unix seconds of an RFC 3339 time such as `2027-01-01T00:00:00Z`.
pub fn parse(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339).ok().map(|t| t.unix_timestamp())
}

/// The RFC 3339 form of Unix seconds (UTC); `None` outside the representable range.
pub fn format(seconds: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        assert_eq!(super::parse("2027-01-01T00:00:00Z"), Some(1_798_761_600));
        assert_eq!(super::format(1_798_761_600).as_deref(), Some("2027-01-01T00:00:00Z"));
        assert_eq!(super::parse("tomorrow"), None);
        assert_eq!(super::format(i64::MAX), None);
    }
}
