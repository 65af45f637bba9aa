//! The bulk engine's retransmission policy, as pure arithmetic on instants.
//!
//! Nothing here reads a clock or sleeps: the caller passes `now`, so the
//! rules are unit-tested with made-up instants, and the same rules drive
//! the [`crate::BulkTransport`] (over UDP) and the
//! [`MemoryTransport`](crate::MemoryTransport) (without sockets).
//!
//! The rules, for one question:
//!
//! - the first retransmission timeout (RTO) is four times the server's
//!   smoothed round-trip time, at least `min_rto`; before any round trip
//!   was measured it is [`UNMEASURED_RTO`] (500 ms); never above `timeout`;
//! - each time the timer fires without an answer the question is sent again
//!   and the RTO doubles, up to `timeout`;
//! - the question gives up `timeout x attempts` after its first
//!   transmission: no timer is set past that deadline, and a timer firing
//!   at or after it ends the question;
//! - a failure reply (SERVFAIL, REFUSED, malformed) may move the question
//!   to another server while the deadline is ahead, with the RTO unchanged;
//! - round trips are measured only on questions never sent twice (Karn's
//!   algorithm) and smoothed as `srtt = (7 srtt + sample) / 8`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// The first RTO before any round trip to the server was measured (RFC 6298
/// §2 starts at 1 s for TCP; DNS over UDP can be bolder).
pub const UNMEASURED_RTO: Duration = Duration::from_millis(500);

/// Timeouts of the bulk engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The longest RTO; a question gives up after `timeout x attempts`.
    pub timeout: Duration,
    /// At least 1.
    pub attempts: u32,
    /// The shortest RTO once a round trip was measured.
    pub min_rto: Duration,
}

impl RetryPolicy {
    /// A policy; `attempts` is raised to 1 when 0.
    pub fn new(timeout: Duration, attempts: u32, min_rto: Duration) -> RetryPolicy {
        RetryPolicy {
            timeout,
            attempts: attempts.max(1),
            min_rto,
        }
    }

    /// The first RTO for a question to a server whose smoothed round-trip
    /// time is `srtt` (`None`: never measured).
    pub fn initial_rto(&self, srtt: Option<Duration>) -> Duration {
        let rto = match srtt {
            None => UNMEASURED_RTO,
            Some(srtt) => (srtt * 4).max(self.min_rto),
        };
        rto.min(self.timeout)
    }

    /// How long a question may take in all: `timeout x attempts`.
    pub fn budget(&self) -> Duration {
        self.timeout * self.attempts.max(1)
    }

    /// The retransmission state of a question first sent at `now`.
    pub fn start(&self, now: Instant, srtt: Option<Duration>) -> Retransmission {
        Retransmission {
            rto: self.initial_rto(srtt),
            deadline: now + self.budget(),
            timeout: self.timeout,
        }
    }
}

/// What to do when a question's timer fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send the question again (to the next server), and set the timer to
    /// `next`.
    Retransmit {
        /// When the timer fires next.
        next: Instant,
    },
    /// The deadline has passed: the question ends (with the last failure
    /// seen, else a timeout).
    GiveUp,
}

/// The retransmission state of one question in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retransmission {
    rto: Duration,
    deadline: Instant,
    timeout: Duration,
}

impl Retransmission {
    /// The current RTO.
    pub fn rto(&self) -> Duration {
        self.rto
    }

    /// When the question gives up.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The timer for a copy sent at `now`: one RTO later, never past the
    /// deadline.
    pub fn timer_after(&self, now: Instant) -> Instant {
        (now + self.rto).min(self.deadline)
    }

    /// The timer fired at `now` with no answer: give up at or past the
    /// deadline, else double the RTO (up to `timeout`) and retransmit.
    pub fn on_timer(&mut self, now: Instant) -> Step {
        if now >= self.deadline {
            return Step::GiveUp;
        }
        self.rto = (self.rto * 2).min(self.timeout);
        Step::Retransmit {
            next: self.timer_after(now),
        }
    }

    /// A failure reply arrived at `now`: when time remains, the timer for
    /// the copy sent to another server (the RTO unchanged); `None` when the
    /// deadline has passed and the failure is the answer.
    pub fn on_failure(&self, now: Instant) -> Option<Instant> {
        (now < self.deadline).then(|| self.timer_after(now))
    }
}

/// A server's smoothed round-trip time, shared by the questions to it.
///
/// Stored in microseconds; 0 means never measured, so a sample under a
/// microsecond (which a real network path never gives) counts as none.
#[derive(Debug, Default)]
pub struct SmoothedRtt(AtomicU64);

impl SmoothedRtt {
    /// The smoothed round-trip time, if one was measured.
    pub fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Takes one measured round trip (of a question sent once only): the
    /// first sample is the estimate, later ones move it by an eighth.
    pub fn sample(&self, rtt: Duration) {
        let sample = rtt.as_micros().min(u128::from(u32::MAX)) as u64;
        let old = self.0.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old * 7 + sample) / 8
        };
        self.0.store(new, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock that moves only when told: instants are `t0 + offset`.
    struct FakeClock(Instant);

    impl FakeClock {
        fn new() -> FakeClock {
            FakeClock(Instant::now())
        }

        fn at(&self, ms: u64) -> Instant {
            self.0 + Duration::from_millis(ms)
        }

        fn ms(&self, t: Instant) -> u64 {
            (t - self.0).as_millis() as u64
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn bulk_defaults() -> RetryPolicy {
        // BulkConfig::new's defaults.
        RetryPolicy::new(Duration::from_secs(3), 2, ms(100))
    }

    /// Runs one question that is never answered: the instants (ms after
    /// the first transmission) of every transmission, and of giving up.
    fn unanswered(policy: RetryPolicy, srtt: Option<Duration>) -> (Vec<u64>, u64) {
        let clock = FakeClock::new();
        let mut q = policy.start(clock.at(0), srtt);
        let mut sent = vec![0];
        let mut timer = q.timer_after(clock.at(0));
        loop {
            match q.on_timer(timer) {
                Step::GiveUp => return (sent, clock.ms(timer)),
                Step::Retransmit { next } => {
                    assert!(next > timer, "the timer moves forward");
                    sent.push(clock.ms(timer));
                    timer = next;
                }
            }
            assert!(sent.len() < 100, "the question never gives up");
        }
    }

    #[test]
    fn initial_rto_is_four_round_trips_within_bounds() {
        let p = bulk_defaults();
        assert_eq!(p.initial_rto(None), UNMEASURED_RTO);
        assert_eq!(p.initial_rto(Some(ms(50))), ms(200));
        // At least min_rto ...
        assert_eq!(p.initial_rto(Some(ms(1))), ms(100));
        assert_eq!(p.initial_rto(Some(Duration::from_micros(30))), ms(100));
        // ... at most the per-attempt timeout, measured or not.
        assert_eq!(p.initial_rto(Some(ms(2000))), ms(3000));
        let short = RetryPolicy::new(ms(300), 2, ms(100));
        assert_eq!(short.initial_rto(None), ms(300));
        assert_eq!(short.initial_rto(Some(ms(90))), ms(300));
    }

    #[test]
    fn unmeasured_server_backs_off_from_500ms_and_gives_up_at_timeout_x_attempts() {
        // 0, +0.5 s, +1 s, +2 s, then the RTO is capped at 3 s but the
        // deadline (3 s x 2) comes first.
        assert_eq!(
            unanswered(bulk_defaults(), None),
            (vec![0, 500, 1500, 3500], 6000)
        );
    }

    #[test]
    fn measured_server_retransmits_sooner_and_caps_the_rto_at_the_timeout() {
        // srtt 25 ms: RTO 100 ms, doubling to 3 s, then 3 s steps until
        // the 9 s deadline.
        let p = RetryPolicy::new(Duration::from_secs(3), 3, ms(100));
        assert_eq!(
            unanswered(p, Some(ms(25))),
            (vec![0, 100, 300, 700, 1500, 3100, 6100], 9000)
        );
    }

    #[test]
    fn one_attempt_gives_up_at_the_timeout() {
        let p = RetryPolicy::new(ms(1000), 1, ms(100));
        assert_eq!(unanswered(p, None), (vec![0, 500], 1000));
        // attempts 0 counts as 1.
        assert_eq!(RetryPolicy::new(ms(1000), 0, ms(100)).budget(), ms(1000));
    }

    #[test]
    fn a_late_timer_still_gives_up_and_the_next_one_is_set_from_when_it_fired() {
        let clock = FakeClock::new();
        let mut q = bulk_defaults().start(clock.at(0), None);
        assert_eq!(q.deadline(), clock.at(6000));
        // The timer task ran 40 ms late: the next timer counts from then.
        assert_eq!(
            q.on_timer(clock.at(540)),
            Step::Retransmit {
                next: clock.at(1540)
            }
        );
        assert_eq!(q.rto(), ms(1000));
        assert_eq!(q.on_timer(clock.at(6000)), Step::GiveUp);
        assert_eq!(q.on_timer(clock.at(7000)), Step::GiveUp);
    }

    #[test]
    fn a_failure_moves_on_with_the_same_rto_while_time_remains() {
        let clock = FakeClock::new();
        let mut q = bulk_defaults().start(clock.at(0), Some(ms(40)));
        assert_eq!(q.rto(), ms(160));
        assert_eq!(q.on_failure(clock.at(20)), Some(clock.at(180)));
        assert_eq!(q.rto(), ms(160), "a failure does not back off");
        // Near the deadline the timer is cut to it; past it, no retry.
        q.on_timer(clock.at(500));
        assert_eq!(q.on_failure(clock.at(5900)), Some(clock.at(6000)));
        assert_eq!(q.on_failure(clock.at(6000)), None);
    }

    #[test]
    fn smoothed_rtt_starts_at_the_first_sample_and_moves_by_an_eighth() {
        let srtt = SmoothedRtt::default();
        assert_eq!(srtt.get(), None);
        srtt.sample(ms(80));
        assert_eq!(srtt.get(), Some(ms(80)));
        srtt.sample(ms(160));
        assert_eq!(srtt.get(), Some(ms(90)));
        srtt.sample(ms(10));
        assert_eq!(srtt.get(), Some(ms(80)));
        // Huge samples are capped (at u32::MAX microseconds, about 71 min).
        let big = SmoothedRtt::default();
        big.sample(Duration::from_secs(1_000_000));
        assert_eq!(big.get(), Some(Duration::from_micros(u64::from(u32::MAX))));
        // Under a microsecond reads as never measured.
        let tiny = SmoothedRtt::default();
        tiny.sample(Duration::from_nanos(300));
        assert_eq!(tiny.get(), None);
    }
}
