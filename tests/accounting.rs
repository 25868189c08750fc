//! Every scheduled request is accounted for (issue 9): against scripted targets that
//! stall past the end of the run, reset connections, answer every Nth request with a
//! 500, answer nothing, or hold warm-up requests, the load report's counts obey the
//! conservation identities and the latencies match the analytic answer.
//!
//! The identities are exact whatever the machine's speed; latency bounds are lower
//! bounds or wide ranges, so a slow machine cannot fail them.

mod common;

use std::time::Duration;

use common::targets::{Action, Target};
use sync_async_bench::load::{self, LoadConfig, LoadReport};

fn run(config: &LoadConfig) -> LoadReport {
    load::run(config).expect("the run completes")
}

fn fast() -> Action {
    Action::Respond {
        status: 200,
        delay: Duration::from_micros(200),
    }
}

/// The identities every report must obey, with a readable failure.
fn assert_conserved(report: &LoadReport) {
    let r = &report.requests;
    assert!(r.conserved(), "counts do not add up: {r:?}");
    let errors: u64 = report.errors.values().sum();
    assert_eq!(r.answered, r.ok + errors, "{r:?} {:?}", report.errors);
    assert_eq!(report.requests_sent, r.sent);
    assert_eq!(report.requests_ok, r.ok);
    let statuses: u64 = report.status_counts.values().sum();
    assert!(statuses <= r.answered, "{statuses} statuses of {r:?}");
    assert_eq!(
        report.latency_ms.all.requests,
        r.scheduled + r.carried_over.in_all_view(),
        "every scheduled request, and every carried-over one that failed or never ended, has a latency in the `all` view"
    );
    let carried = r.carried_over;
    assert_eq!(
        carried.requests,
        carried.ok + carried.failed + carried.unfinished,
        "{carried:?}"
    );
    assert_eq!(report.latency_ms.ok.requests, r.ok);
}

#[test]
fn a_stall_past_the_end_is_counted_not_dropped() {
    // 200 req/s for 4 s; the target stops answering 2 s in and never recovers.
    let stall_at = Duration::from_secs(2);
    let target = Target::start(move |_, since| {
        if since >= stall_at {
            Action::Hang
        } else {
            fast()
        }
    });
    let report = run(&LoadConfig::open(
        &target.url("/"),
        200.0,
        16,
        Duration::from_secs(4),
    ));
    assert_conserved(&report);
    let r = &report.requests;
    assert!((795..=805).contains(&r.scheduled), "{r:?}");
    assert_eq!(r.in_flight_at_end, 16, "every connection hung: {r:?}");
    // About 400 requests were due after the stall began; none was answered.
    assert!((360..=440).contains(&r.unfinished), "{r:?}");
    assert!((360..=440).contains(&r.ok), "{r:?}");
    // Analytic answer for all requests: about half answered fast, the other half
    // waited end − intended, uniform on [0, 2 s]. So p90 ≈ 1.6 s and p99 ≈ 1.96 s.
    let all = report.latency_ms.all.corrected.expect("requests");
    assert!((1_300.0..=1_900.0).contains(&all.p90), "all p90 {all:?}");
    assert!((1_800.0..=2_200.0).contains(&all.p99), "all p99 {all:?}");
    // The successes alone were fast, and their share says they are half the story.
    let ok = report.latency_ms.ok;
    // Relative to the stall, not to this machine's speed: the successes' median is
    // far under the stalled requests' tail.
    assert!(ok.corrected.expect("successes").p50 * 2.0 < all.p90);
    let share = ok.share.expect("scheduled");
    assert!((0.4..=0.6).contains(&share), "ok share {share}");
    let failed = report.error_share.expect("scheduled");
    assert!((0.4..=0.6).contains(&failed), "error share {failed}");
    // Invalid, for the cause it can see.
    assert!(!report.valid);
    let reasons = report.invalid_reasons.join("; ");
    assert!(reasons.contains("stopped answering at"), "{reasons}");
    assert!(!reasons.contains("--connections"), "{reasons}");
    let last = report.last_answer_s.expect("answers before the stall");
    assert!((1.7..=2.3).contains(&last), "last answer at {last} s");
    let text = report.render();
    assert!(text.contains("unfinished"), "{text}");
    assert!(text.contains("lower bound"), "{text}");
}

#[test]
fn a_target_that_never_answers_reads_as_unanswered_not_fast() {
    let target = Target::start(|_, _| Action::Hang);
    let report = run(&LoadConfig::open(
        &target.url("/"),
        100.0,
        4,
        Duration::from_secs(1),
    ));
    assert_conserved(&report);
    let r = &report.requests;
    assert_eq!(r.ok + r.failed, 0, "{r:?}");
    assert_eq!(r.unfinished, r.scheduled);
    assert_eq!(r.in_flight_at_end, 4);
    // Not measured is not zero: no success, so no success latency at all.
    assert_eq!(report.latency_ms.ok.corrected, None);
    assert_eq!(report.latency_ms.ok.service, None);
    assert_eq!(report.error_share, Some(1.0));
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["latency_ms"]["ok"]["corrected"].is_null(), "{json}");
    assert!(report.invalid_reasons.join(" ").contains("never answered"));
    assert!(report.render().contains('—'));
}

#[test]
fn resets_after_a_wait_stay_in_the_tail_of_all_requests() {
    let target = Target::start(|n, _| {
        if n % 5 == 4 {
            Action::DropAfter(Duration::from_millis(60))
        } else {
            fast()
        }
    });
    let report = run(&LoadConfig::open(
        &target.url("/"),
        100.0,
        8,
        Duration::from_secs(2),
    ));
    assert_conserved(&report);
    let resets = report.errors["reset"];
    assert!(resets >= 20, "{:?}", report.errors);
    let all = report.latency_ms.all.corrected.expect("requests");
    assert!(
        all.max >= 60.0,
        "a reset after 60 ms has that latency: {all:?}"
    );
    assert!(
        all.p90 >= 60.0,
        "a fifth of the requests waited 60 ms: {all:?}"
    );
    let ok = report.latency_ms.ok.corrected.expect("successes");
    assert!(
        ok.p50 < all.p90,
        "resets are not in the success latency: {ok:?}"
    );
}

#[test]
fn every_tenth_500_is_counted_by_status_and_never_in_the_success_latency() {
    let target = Target::start(|n, _| {
        if n % 10 == 9 {
            Action::Respond {
                status: 500,
                delay: Duration::from_millis(300),
            }
        } else {
            fast()
        }
    });
    let mut config = LoadConfig::closed(&target.url("/"), 8, Duration::from_secs(10));
    config.duration = None;
    config.requests = Some(500);
    let report = run(&config);
    assert_conserved(&report);
    assert_eq!(report.requests.scheduled, 500);
    assert_eq!(report.requests.unfinished, 0);
    let five = report.status_counts["500"];
    assert_eq!(report.status_counts["200"] + five, 500);
    assert_eq!(report.errors["status_5xx"], five);
    assert!((40..=60).contains(&five), "{five}");
    // The slow 500s are in the `all` view only.
    assert_eq!(report.latency_ms.ok.requests, report.status_counts["200"]);
    assert_eq!(report.latency_ms.all.requests, 500);
    let ok = report.latency_ms.ok.corrected.expect("successes");
    let all = report.latency_ms.all.corrected.expect("requests");
    assert!(all.max >= 300.0, "{all:?}");
    // Relative, not timed: the successes' median is far under the slow 500s.
    assert!(
        ok.p50 * 2.0 < all.max,
        "no 500 in the success latency: {ok:?}"
    );
    assert!(report.bytes_received > 0 && report.received_bytes_per_s > 0.0);
}

#[test]
fn warm_up_requests_still_unanswered_are_carried_over_not_counted_in_the_window() {
    // The first three requests (in the warm-up) hang; the rest are fast.
    let target = Target::start(|n, _| if n < 3 { Action::Hang } else { fast() });
    let mut config = LoadConfig::open(&target.url("/"), 100.0, 8, Duration::from_secs(1));
    config.warmup = Duration::from_millis(500);
    let report = run(&config);
    assert_conserved(&report);
    let r = &report.requests;
    assert_eq!(r.scheduled, 100, "rate × window exactly: {r:?}");
    assert_eq!(
        r.in_flight_at_end, 0,
        "the window's own all finished: {r:?}"
    );
    // The three hung ones, and any warm-up request that happened to end just after.
    assert!(r.carried_over.requests >= 3, "{r:?}");
    assert_eq!(r.carried_over.unfinished, 3, "{r:?}");
    let all = report.latency_ms.all.corrected.expect("requests");
    assert!(all.max >= 1_000.0, "they waited the whole window: {all:?}");
}

/// The window identity against a target that answers in `latency`: whatever the
/// warm-up and the rate, `scheduled` is rate × window exactly, nothing of the warm-up
/// is sent, answered or achieved in it, and what was in flight when the window opened
/// is carried over on its own (about rate × latency of them).
fn window_holds_exactly_its_own_requests(rate: f64, latency: Duration, warmup: Duration) {
    let target = Target::start(move |_, _| Action::Respond {
        status: 200,
        delay: latency,
    });
    let window = Duration::from_secs(1);
    let in_flight = (rate * latency.as_secs_f64()).ceil() as usize;
    let mut config = LoadConfig::open(&target.url("/"), rate, 4 * in_flight + 8, window);
    config.warmup = warmup;
    let report = run(&config);
    assert_conserved(&report);
    let r = &report.requests;
    let expected = (rate * window.as_secs_f64()).round() as u64;
    assert_eq!(r.scheduled, expected, "rate × window: {r:?}");
    assert_eq!(r.sent + r.unsent, expected, "{r:?}");
    assert!(
        r.ok <= expected,
        "nothing of the warm-up succeeds in the window: {r:?}"
    );
    assert!(
        report.achieved_rps <= rate + 1e-9,
        "achieved {} over a rate of {rate}",
        report.achieved_rps
    );
    if !warmup.is_zero() {
        assert!(
            r.carried_over.requests >= 1,
            "{in_flight} requests were in flight when the window opened: {r:?}"
        );
    }
    assert_eq!(
        r.carried_over.failed + r.carried_over.unfinished,
        0,
        "{r:?}"
    );
}

#[test]
fn the_window_holds_exactly_rate_times_window_at_20ms_and_a_1s_warm_up() {
    window_holds_exactly_its_own_requests(200.0, Duration::from_millis(20), Duration::from_secs(1));
}

#[test]
fn the_window_holds_exactly_rate_times_window_at_100ms_and_a_short_warm_up() {
    window_holds_exactly_its_own_requests(
        400.0,
        Duration::from_millis(100),
        Duration::from_millis(300),
    );
}

#[test]
fn the_window_holds_exactly_rate_times_window_without_a_warm_up() {
    window_holds_exactly_its_own_requests(150.0, Duration::from_millis(50), Duration::ZERO);
}

#[test]
fn a_closed_loop_window_holds_what_was_sent_in_it() {
    // 4 connections, 50 ms a request: about 80 sent in the window; the 4 in flight when
    // it opened are the warm-up's.
    let target = Target::start(|_, _| Action::Respond {
        status: 200,
        delay: Duration::from_millis(50),
    });
    let mut config = LoadConfig::closed(&target.url("/"), 4, Duration::from_secs(1));
    config.warmup = Duration::from_millis(500);
    let report = run(&config);
    assert_conserved(&report);
    let r = &report.requests;
    let carried = r.carried_over;
    assert!(
        (1..=4).contains(&carried.requests),
        "one a connection at most: {r:?}"
    );
    assert_eq!(carried.ok, carried.requests, "{r:?}");
    assert!(r.scheduled <= 84, "{r:?}");
}

#[test]
fn a_count_bounded_run_has_nothing_unsent() {
    let target = Target::start(|_, _| fast());
    let mut config = LoadConfig::open(&target.url("/"), 500.0, 4, Duration::from_secs(10));
    config.duration = None;
    config.requests = Some(300);
    let report = run(&config);
    assert_conserved(&report);
    // Independent of the generator's own counters: what the target received.
    assert_eq!(
        target.requests.load(std::sync::atomic::Ordering::SeqCst),
        300
    );
    assert_eq!(report.requests.ok, 300);
    assert_eq!(report.requests.scheduled, 300);
    assert_eq!(report.requests.unfinished, 0);
    assert!(
        common::valid_but_for_the_generator(report.valid, &report.invalid_reasons.join("; ")),
        "{:?}",
        report.invalid_reasons
    );
}

#[test]
fn a_panicking_connection_makes_the_run_invalid_and_loses_no_request() {
    let target = Target::start(|_, _| fast());
    let mut config = LoadConfig::closed(&target.url("/"), 4, Duration::from_secs(10));
    config.duration = None;
    config.requests = Some(200);
    config.inject_panic_at_request = Some(5);
    let report = run(&config);
    assert!(!report.valid);
    assert_eq!(
        report.generator_panics.len(),
        1,
        "{:?}",
        report.generator_panics
    );
    assert!(
        report.invalid_reasons[0].contains("the generator panicked")
            && report.invalid_reasons[0].contains("injected generator panic at request 5"),
        "{:?}",
        report.invalid_reasons
    );
    let r = &report.requests;
    assert!(r.conserved(), "{r:?}");
    // The panicked connection's request was sent and never ended: unfinished, not lost.
    assert!(r.in_flight_at_end >= 1, "{r:?}");
    assert_eq!(r.scheduled, 200, "{r:?}");
}
