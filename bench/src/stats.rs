//! Summaries of repeated measurements.

use std::time::Duration;

/// The `p`-th percentile (0–100) of `samples`, nearest-rank.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

pub fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 50.0)
}

/// The median of plain numbers (the lower middle of an even count, like [`median`]); 0 when
/// there are none.
pub fn median_f64(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[(sorted.len() - 1) / 2]
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// Microseconds with one decimal.
pub fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// A whole number with thousands separators: `13,402`.
pub fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The per-run figures of one workload, repeated: each figure is reported as its median over
/// the runs, so one disturbed run (the machine is shared) moves nothing.
#[derive(Default)]
pub struct Runs {
    pub rates: Vec<f64>,
    pub p50s: Vec<Duration>,
    pub p99s: Vec<Duration>,
}

impl Runs {
    /// Adds one run: its rate (per second) and its latency samples.
    pub fn push(&mut self, rate: f64, latencies: &[Duration]) {
        self.rates.push(rate);
        self.p50s.push(median(latencies));
        self.p99s.push(percentile(latencies, 99.0));
    }

    pub fn rate(&self) -> f64 {
        median_f64(&self.rates)
    }

    pub fn p50(&self) -> Duration {
        median(&self.p50s)
    }

    pub fn p99(&self) -> Duration {
        median(&self.p99s)
    }

    /// The spread of the runs' medians, `min–max` in microseconds.
    pub fn p50_spread(&self) -> String {
        let min = self.p50s.iter().min().copied().unwrap_or_default();
        let max = self.p50s.iter().max().copied().unwrap_or_default();
        format!("{}–{}", us(min), us(max))
    }

    /// The spread of the rates, `min–max`, for the notes.
    pub fn rate_spread(&self) -> String {
        let min = self.rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.rates.iter().copied().fold(0.0, f64::max);
        format!("{}–{}", thousands(min), thousands(max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits_by_three() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(13402.0), "13,402");
        assert_eq!(thousands(1234567.0), "1,234,567");
    }

    #[test]
    fn median_f64_takes_the_middle_value() {
        assert_eq!(median_f64(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_f64(&[]), 0.0);
    }
}
