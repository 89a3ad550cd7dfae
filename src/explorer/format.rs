//! How the explorer writes amounts, times, hashes and sizes.

/// Base units in a coin.
const COIN: u64 = crate::primitives::COIN;

/// `n` with a comma every three digits: `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An amount in base units as coins with 8 decimals and thousands separators:
/// `1,234.50000000`.
pub fn coins(units: u64) -> String {
    format!("{}.{:08}", thousands(units / COIN), units % COIN)
}

/// A signed amount (an unconfirmed change): `+1.00000000`, `-0.50000000`, `0.00000000`.
pub fn signed_coins(units: i128) -> String {
    let magnitude = u64::try_from(units.unsigned_abs()).unwrap_or(u64::MAX);
    match units {
        0 => coins(0),
        u if u > 0 => format!("+{}", coins(magnitude)),
        _ => format!("-{}", coins(magnitude)),
    }
}

/// `part` as a percentage of `whole` with 4 decimals: `12.3456%`.
pub fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0.0000%".to_owned();
    }
    // In millionths of the whole, exact in u128.
    let ppm = (u128::from(part) * 1_000_000) / u128::from(whole);
    format!("{}.{:04}%", ppm / 10_000, ppm % 10_000)
}

/// Bytes with a unit: `512 B`, `1.5 kB`, `2.25 MB`.
pub fn bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        _ => format!("{:.2} MB", n as f64 / 1e6),
    }
}

/// Unix seconds as `2026-11-30 17:20:34 UTC`.
pub fn utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// How long before `now` `then` was: `just now`, `45 s ago`, `3 min ago`, `2 h ago`,
/// `5 days ago`; a time ahead of `now` (clocks differ) reads `in the future`.
pub fn ago(then: u64, now: u64) -> String {
    if then > now + 60 {
        return "in the future".to_owned();
    }
    let s = now.saturating_sub(then);
    match s {
        0..5 => "just now".to_owned(),
        5..60 => format!("{s} s ago"),
        60..3_600 => format!("{} min ago", s / 60),
        3_600..86_400 => format!("{} h ago", s / 3_600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// A duration in seconds: `42 s`, `2 min 5 s`.
pub fn seconds(s: u64) -> String {
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {} s", s / 60, s % 60)
    }
}

/// A hash shortened for tables: the first 10 and last 6 characters.
pub fn short(hash: &str) -> String {
    if hash.len() <= 20 || !hash.is_ascii() {
        return hash.to_owned();
    }
    format!("{}…{}", &hash[..10], &hash[hash.len() - 6..])
}

/// (year, month, day) of a count of days since 1970-01-01 (proleptic Gregorian; Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_have_eight_decimals_and_separators() {
        assert_eq!(coins(0), "0.00000000");
        assert_eq!(coins(1), "0.00000001");
        assert_eq!(coins(123_456_789_012_345_678), "1,234,567,890.12345678");
        assert_eq!(coins(50 * COIN), "50.00000000");
        assert_eq!(coins(u64::MAX), "184,467,440,737.09551615");
        assert_eq!(signed_coins(-150_000_000), "-1.50000000");
        assert_eq!(signed_coins(1), "+0.00000001");
        assert_eq!(signed_coins(i128::MIN), "-184,467,440,737.09551615");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(100_000), "100,000");
    }

    #[test]
    fn shares_times_and_hashes() {
        assert_eq!(share(1, 3), "33.3333%");
        assert_eq!(share(5, 5), "100.0000%");
        assert_eq!(share(5, 0), "0.0000%");
        assert_eq!(share(u64::MAX, u64::MAX), "100.0000%");
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_800_000_000), "2027-01-15 08:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(ago(100, 100), "just now");
        assert_eq!(ago(100, 280), "3 min ago");
        assert_eq!(ago(0, 7_200), "2 h ago");
        assert_eq!(ago(1_000, 0), "in the future");
        assert_eq!(short(&"ab".repeat(32)), "ababababab…ababab");
        assert_eq!(short("short"), "short");
        assert_eq!(bytes(1_500), "1.5 kB");
    }
}
