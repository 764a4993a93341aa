//! One rate limit for every request of the process (Open Library: about 3 requests a second for an
//! identified client, 1 otherwise).
//!
//! Requests are given evenly spaced start slots; a `429` pushes every later slot back by its
//! `Retry-After`, so the whole process backs off, not just the request that was refused. Built on
//! `tokio::time` so tests can run it on a paused clock.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// At most `rate` request starts per second (no bursts: the spacing is even).
    pub fn per_second(rate: f64) -> Self {
        assert!(rate.is_finite() && rate > 0.0, "the rate is checked in settings");
        Self { interval: Duration::from_secs_f64(1.0 / rate), next: Mutex::new(None) }
    }

    /// Waits for this request's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().expect("the lock is never held across a panic");
            let now = Instant::now();
            let slot = next.map_or(now, |next| next.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// No request starts before `delay` from now (a server said `Retry-After`).
    pub fn hold_off(&self, delay: Duration) {
        let mut next = self.next.lock().expect("the lock is never held across a panic");
        let until = Instant::now() + delay;
        *next = Some(next.map_or(until, |next| next.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_evenly() {
        let limiter = Arc::new(RateLimiter::per_second(4.0));
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..5 {
            let limiter = limiter.clone();
            handles.push(tokio::spawn(async move {
                limiter.acquire().await;
                Instant::now()
            }));
        }
        let mut starts = Vec::new();
        for handle in handles {
            starts.push(handle.await.unwrap() - start);
        }
        starts.sort();
        let ms: Vec<u128> = starts.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![0, 250, 500, 750, 1000]);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_is_not_saved_up_as_a_burst() {
        let limiter = RateLimiter::per_second(2.0);
        let start = Instant::now();
        limiter.acquire().await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!((Instant::now() - start).as_millis(), 10_500);
    }

    #[tokio::test(start_paused = true)]
    async fn hold_off_delays_every_later_request() {
        let limiter = RateLimiter::per_second(10.0);
        let start = Instant::now();
        limiter.acquire().await;
        limiter.hold_off(Duration::from_secs(3));
        limiter.acquire().await;
        assert_eq!((Instant::now() - start).as_millis(), 3_000);
        limiter.acquire().await;
        assert_eq!((Instant::now() - start).as_millis(), 3_100);
    }
}
