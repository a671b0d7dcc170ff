//! Shed answers (503 `overloaded`, 429 `rate_limited`): the server turned the request
//! away before any handler ran, so sending it again is always safe, after the wait its
//! `Retry-After` asked for. [`ShedRetry`] is the one-shot commands' policy, run by
//! [`retry_shed`] on backon; the load generator and the checker pace their own loops
//! with [`shed_pause`].

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use crate::error::ClientError;

/// First and longest wait of the backoff between shed attempts; a `Retry-After` longer
/// than the backoff's wait is what is waited instead.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Sends in all, the first included, of a one-shot command's request that is shed.
pub const COMMAND_ATTEMPTS: u32 = 4;

/// How a client sends a shed request again: at most `attempts` sends in all, and at most
/// `budget` spent waiting between them. A wait that would go past the budget is not
/// started: the request is given up at once, with the server's word on when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShedRetry {
    pub attempts: u32,
    pub budget: Duration,
}

impl ShedRetry {
    /// A one-shot command's: [`COMMAND_ATTEMPTS`] sends, waiting at most its `--timeout`
    /// in all.
    pub fn for_command(timeout: Duration) -> Self {
        ShedRetry {
            attempts: COMMAND_ATTEMPTS,
            budget: timeout,
        }
    }
}

/// The wait before sending again after shed answer `err`, when the backoff's next wait is
/// `backoff` (`None`: no attempt left) and `waited` has been spent waiting already: the
/// longer of the backoff's and the server's `Retry-After`. `None` (give up) once no
/// attempt is left or the wait would take the waiting past `budget`.
pub fn next_wait(
    err: &ClientError,
    backoff: Option<Duration>,
    waited: Duration,
    budget: Duration,
) -> Option<Duration> {
    let wait = backoff?.max(err.retry_after().unwrap_or(Duration::ZERO));
    (waited + wait <= budget).then_some(wait)
}

/// Runs `attempt` and sends it again while it is shed, as `policy` allows, each time after
/// at least the server's `Retry-After`. Any other error, or the last shed one (its
/// `attempts` counting every send), is returned as it is.
pub async fn retry_shed<T, F, Fut>(policy: ShedRetry, mut attempt: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    // Atomic only so the future stays `Send` (it is never shared).
    let sent = AtomicU32::new(0);
    let mut waited = Duration::ZERO;
    let backoff = ExponentialBuilder::default()
        .with_min_delay(BACKOFF_START)
        .with_max_delay(BACKOFF_MAX)
        .with_jitter()
        .with_max_times(policy.attempts.saturating_sub(1) as usize);
    let result = (|| {
        sent.fetch_add(1, Ordering::Relaxed);
        attempt()
    })
    .retry(backoff)
    .sleep(tokio::time::sleep)
    .when(ClientError::is_shed)
    .adjust(|err, backoff| {
        let wait = next_wait(err, backoff, waited, policy.budget)?;
        waited += wait;
        Some(wait)
    })
    .await;
    result.map_err(|e| e.with_attempts(sent.load(Ordering::Relaxed)))
}

/// How long a load session or checker worker waits after shed answer `err` before its
/// next request, its own pause being `floor`: the server's `Retry-After` when longer, and
/// up to half of it again at random; unless the run ignores it (`ignore_retry_after`, to
/// show what such clients do).
pub fn shed_pause(err: &ClientError, floor: Duration, ignore_retry_after: bool) -> Duration {
    match err.retry_after() {
        Some(asked) if !ignore_retry_after => asked.max(floor) + spread(asked),
        _ => floor,
    }
}

/// A random part of `asked` (below half) to wait on top of it. A server sheds many clients
/// within a moment; waiting exactly `Retry-After`, they would all come back within the same
/// moment, overload it again and be shed together again, second after second.
fn spread(asked: Duration) -> Duration {
    use rand::Rng;
    asked.mul_f64(rand::thread_rng().gen_range(0.0..0.5))
}

/// The pause before a loop's next try after retryable failure `err`, with `left` of its
/// retry time remaining; `None`: give up now. A shed request waits [`shed_pause`] and is
/// not sent again when that wait does not end within the time left (rather than being
/// sent before the server asked); any other failure pauses `floor` while time is left.
pub fn retry_pause(
    err: &ClientError,
    floor: Duration,
    ignore_retry_after: bool,
    left: Duration,
) -> Option<Duration> {
    if err.is_shed() {
        let pause = shed_pause(err, floor, ignore_retry_after);
        (pause < left).then_some(pause)
    } else {
        (!left.is_zero()).then_some(floor)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::Mutex;

    use bazaar_api::ApiError;
    use tokio::time::Instant;

    use super::*;

    fn overloaded(secs: u32) -> ClientError {
        ClientError::from_answer(ApiError::overloaded("writes", secs))
    }

    #[test]
    fn the_wait_is_the_longer_of_backoff_and_retry_after_within_the_budget() {
        let budget = Duration::from_secs(10);
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        assert_eq!(
            next_wait(&overloaded(3), Some(ms(100)), secs(0), budget),
            Some(secs(3))
        );
        assert_eq!(
            next_wait(&overloaded(1), Some(ms(1500)), secs(0), budget),
            Some(ms(1500))
        );
        // Past the budget, or no attempt left: give up now rather than send early.
        assert_eq!(
            next_wait(&overloaded(3), Some(ms(100)), secs(8), budget),
            None
        );
        assert_eq!(
            next_wait(&overloaded(30), Some(ms(100)), secs(0), budget),
            None
        );
        assert_eq!(next_wait(&overloaded(1), None, secs(0), budget), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_shed_request_is_sent_again_no_sooner_than_retry_after() {
        let sends = Mutex::new(Vec::new());
        let started = Instant::now();
        let policy = ShedRetry {
            attempts: 4,
            budget: Duration::from_secs(10),
        };
        let got = retry_shed(policy, || {
            let mut sends = sends.lock().expect("not poisoned");
            sends.push(started.elapsed());
            let n = sends.len();
            async move {
                if n < 3 {
                    Err(overloaded(2))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(got.ok(), Some(3));
        let sends = sends.into_inner().expect("not poisoned");
        for pair in sends.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_secs(2), "{sends:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn shed_retries_stop_at_the_attempts_and_at_the_budget() {
        let sent = Cell::new(0);
        let policy = ShedRetry {
            attempts: 3,
            budget: Duration::from_secs(60),
        };
        let err = retry_shed(policy, || {
            sent.set(sent.get() + 1);
            async { Err::<(), _>(overloaded(1)) }
        })
        .await
        .expect_err("always shed");
        assert_eq!(sent.get(), 3);
        assert!(
            matches!(err, ClientError::Shed { attempts: 3, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("(3 attempts)"), "{err}");

        // A Retry-After past the budget: given up after the first send, not sent early.
        let started = Instant::now();
        let err = retry_shed(ShedRetry::for_command(Duration::from_secs(10)), || async {
            Err::<(), _>(overloaded(30))
        })
        .await
        .expect_err("always shed");
        assert!(
            matches!(err, ClientError::Shed { attempts: 1, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("try again in 30 s"), "{err}");
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_are_not_retried_here() {
        let sent = Cell::new(0);
        let err = retry_shed(ShedRetry::for_command(Duration::from_secs(10)), || {
            sent.set(sent.get() + 1);
            async { Err::<(), _>(ClientError::Api(ApiError::unavailable("no quorum"))) }
        })
        .await
        .expect_err("unavailable");
        assert_eq!(sent.get(), 1);
        assert!(matches!(err, ClientError::Api(_)), "{err:?}");
    }

    #[test]
    fn a_loop_gives_up_rather_than_send_a_shed_request_before_its_retry_after() {
        let floor = Duration::from_millis(50);
        let secs = Duration::from_secs;
        let pause = retry_pause(&overloaded(3), floor, false, secs(5)).expect("time left");
        assert!(
            pause >= secs(3) && pause < Duration::from_millis(4500),
            "{pause:?}"
        );
        assert_eq!(retry_pause(&overloaded(3), floor, false, secs(3)), None);
        assert_eq!(
            retry_pause(&overloaded(3), floor, true, secs(3)),
            Some(floor)
        );
        let unavailable = ClientError::Api(ApiError::unavailable("no quorum"));
        assert_eq!(
            retry_pause(&unavailable, floor, false, Duration::from_millis(1)),
            Some(floor)
        );
        assert_eq!(
            retry_pause(&unavailable, floor, false, Duration::ZERO),
            None
        );
    }

    #[test]
    fn a_session_pauses_for_retry_after_unless_told_to_ignore_it() {
        let floor = Duration::from_millis(20);
        // Retry-After, and a random part of it again, so clients shed together spread out.
        let pauses: Vec<Duration> = (0..50)
            .map(|_| shed_pause(&overloaded(2), floor, false))
            .collect();
        for pause in &pauses {
            assert!(
                *pause >= Duration::from_secs(2) && *pause < Duration::from_secs(3),
                "{pause:?}"
            );
        }
        assert!(pauses.iter().any(|p| *p != pauses[0]), "{pauses:?}");
        assert_eq!(shed_pause(&overloaded(2), floor, true), floor);
        assert_eq!(shed_pause(&overloaded(0), floor, false), floor);
        let mut no_hint = ApiError::overloaded("writes", 1);
        no_hint.retry_after_secs = None;
        assert_eq!(
            shed_pause(&ClientError::from_answer(no_hint), floor, false),
            floor
        );
    }
}
