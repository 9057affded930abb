//! A token bucket: what a link may send per second, with bursts. Time is an argument,
//! so tests run it on simulated time.

use std::time::{Duration, Instant};

/// `rate` tokens per second, at most `burst` saved up.
#[derive(Debug, Clone)]
pub struct Budget {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl Budget {
    /// A full bucket at `now`.
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            rate,
            burst,
            last: now,
        }
    }

    /// The most it saves up.
    pub fn burst(&self) -> f64 {
        self.burst
    }

    /// Spends `n` tokens at `now` if there are that many; otherwise how long until
    /// there are (`None`: never, `n` is more than the burst).
    pub fn take_or_wait(&mut self, n: f64, now: Instant) -> Result<(), Option<Duration>> {
        if self.take(n, now) {
            return Ok(());
        }
        if n > self.burst || self.rate <= 0.0 {
            return Err(None);
        }
        Err(Some(Duration::from_secs_f64((n - self.tokens) / self.rate)))
    }

    /// Tokens there are at `now`.
    pub fn available(&mut self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = self.last.max(now);
        self.tokens
    }

    /// How long after `now` until there are `n` tokens (`None`: never, `n` is more
    /// than the burst).
    pub fn time_until(&mut self, n: f64, now: Instant) -> Option<Duration> {
        let tokens = self.available(now);
        if tokens >= n {
            return Some(Duration::ZERO);
        }
        if n > self.burst || self.rate <= 0.0 {
            return None;
        }
        Some(Duration::from_secs_f64((n - tokens) / self.rate))
    }

    /// Spends `n` tokens at `now` if there are that many.
    pub fn take(&mut self, n: f64, now: Instant) -> bool {
        if self.available(now) >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_allows_bursts_then_the_rate() {
        let start = Instant::now();
        let mut budget = Budget::new(1000.0, 50.0, start);
        assert!(budget.take(50.0, start), "a full burst at once");
        assert!(!budget.take(10.0, start), "then nothing until it refills");
        let later = start + Duration::from_millis(20);
        assert!(
            budget.take(10.0, later),
            "about 20 tokens came back in 20 ms"
        );
        assert!(!budget.take(45.0, later), "never more than the burst");
        assert!(budget.take(10.0, start), "the 10 left over");
        assert!(
            !budget.take(1.0, start),
            "a clock that goes back adds nothing"
        );
    }

    #[test]
    fn a_budget_says_how_long_until_it_can_pay() {
        let start = Instant::now();
        let mut budget = Budget::new(100.0, 10.0, start);
        assert_eq!(budget.take_or_wait(10.0, start), Ok(()));
        let wait = budget.take_or_wait(5.0, start).unwrap_err().unwrap();
        assert!((wait.as_secs_f64() - 0.05).abs() < 1e-6, "{wait:?}");
        assert_eq!(budget.take_or_wait(5.0, start + wait), Ok(()));
        assert_eq!(
            budget.take_or_wait(11.0, start + wait),
            Err(None),
            "over the burst"
        );
    }
}
