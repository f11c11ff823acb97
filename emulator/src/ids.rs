//! Deterministic identifiers that look like the real ones (big run ids, uuid-shaped pipeline ids),
//! so runs are reproducible and tests can compare whole answers.

use std::time::{SystemTime, UNIX_EPOCH};

/// Real run/job ids are 13-16 digit numbers; start there so clients never assume small ids.
const FIRST_RUN_ID: i64 = 764_211_580_000_001;
const FIRST_JOB_ID: i64 = 981_337_402_000_001;
const FIRST_OBJECT_ID: i64 = 3_141_592_653_589_001;

#[derive(Debug)]
pub struct Ids {
    next_run: i64,
    next_job: i64,
    next_object: i64,
    uuid_seq: u64,
    chat_seq: u64,
}

impl Default for Ids {
    fn default() -> Self {
        Self {
            next_run: FIRST_RUN_ID,
            next_job: FIRST_JOB_ID,
            next_object: FIRST_OBJECT_ID,
            uuid_seq: 0,
            chat_seq: 0,
        }
    }
}

impl Ids {
    /// Run ids and task-run ids share one counter, so they are all distinct (as on Databricks).
    pub fn run_id(&mut self) -> i64 {
        self.next_run += 1;
        self.next_run - 1
    }

    pub fn job_id(&mut self) -> i64 {
        self.next_job += 1;
        self.next_job - 1
    }

    pub fn object_id(&mut self) -> i64 {
        self.next_object += 1;
        self.next_object - 1
    }

    /// A v4-shaped uuid derived from a counter: looks real, stays reproducible.
    pub fn uuid(&mut self) -> String {
        self.uuid_seq += 1;
        let hi = splitmix64(self.uuid_seq);
        let lo = splitmix64(hi ^ self.uuid_seq);
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0x0fff,
            0x8000 | ((lo >> 48) & 0x3fff),
            lo & 0xffff_ffff_ffff
        )
    }

    pub fn chat_id(&mut self) -> String {
        self.chat_seq += 1;
        format!("chatcmpl-{:016x}", splitmix64(self.chat_seq))
    }
}

fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Wall-clock milliseconds, the unit Databricks uses for start_time / creation_time.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `2025-01-31T12:34:56.789Z`, the timestamp format of pipeline events.
pub fn rfc3339(ms: i64) -> String {
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant), valid for the whole proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        day_secs / 3600,
        day_secs % 3600 / 60,
        day_secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_767_225_599_000), "2025-12-31T23:59:59.000Z");
    }

    #[test]
    fn uuids_are_distinct_and_uuid_shaped() {
        let mut ids = Ids::default();
        let a = ids.uuid();
        let b = ids.uuid();
        assert_ne!(a, b);
        let parts: Vec<_> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn run_ids_increase() {
        let mut ids = Ids::default();
        let a = ids.run_id();
        assert!(ids.run_id() > a);
        assert!(a > 100_000_000_000);
    }
}
