//! Trigger rules: whether a task runs, given what its upstream tasks have done so far.

use super::spec::TriggerRule;
use super::state::TaskState;

/// Tally of a task's upstream tasks' terminal states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Upstream {
    /// Number of upstream tasks.
    pub total: u32,
    /// Ended `success`.
    pub success: u32,
    /// Ended `failed` or `upstream_failed`.
    pub failed: u32,
    /// Ended `skipped` or `cancelled`.
    pub other: u32,
}

impl Upstream {
    /// Counts one upstream task reaching terminal state `state`.
    pub fn record(&mut self, state: TaskState) {
        match state {
            TaskState::Success => self.success += 1,
            TaskState::Failed | TaskState::UpstreamFailed => self.failed += 1,
            _ => self.other += 1,
        }
    }

    /// Upstream tasks that have reached a terminal state.
    pub fn done(&self) -> u32 {
        self.success + self.failed + self.other
    }

    /// The tally over a list of upstream states (non-terminal ones count in `total`
    /// only).
    pub fn of(states: impl IntoIterator<Item = TaskState>) -> Upstream {
        let mut u = Upstream::default();
        for s in states {
            u.total += 1;
            if s.is_terminal() {
                u.record(s);
            }
        }
        u
    }
}

/// What a trigger rule says about a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Not yet decidable: upstream tasks are still going.
    Wait,
    /// The task may run.
    Run,
    /// The rule can no longer hold because of failures upstream.
    UpstreamFailed,
    /// The rule can no longer hold and nothing upstream failed.
    Skipped,
}

/// Applies `rule` to the upstream tally. `one_success` and `one_failed` fire as soon
/// as their condition holds; the other rules wait for every upstream task. A task
/// with no upstream tasks always runs.
pub fn decide(rule: TriggerRule, up: Upstream) -> Decision {
    if up.total == 0 {
        return Decision::Run;
    }
    let all_done = up.done() == up.total;
    let unmet = || {
        if up.failed > 0 {
            Decision::UpstreamFailed
        } else {
            Decision::Skipped
        }
    };
    match rule {
        TriggerRule::AllSuccess if all_done => {
            if up.success == up.total {
                Decision::Run
            } else {
                unmet()
            }
        }
        TriggerRule::AllDone if all_done => Decision::Run,
        TriggerRule::AllFailed if all_done => {
            if up.failed == up.total {
                Decision::Run
            } else {
                Decision::Skipped
            }
        }
        TriggerRule::OneSuccess if up.success > 0 => Decision::Run,
        TriggerRule::OneSuccess if all_done => unmet(),
        TriggerRule::OneFailed if up.failed > 0 => Decision::Run,
        TriggerRule::OneFailed if all_done => Decision::Skipped,
        TriggerRule::NoneFailed if all_done => {
            if up.failed == 0 {
                Decision::Run
            } else {
                Decision::UpstreamFailed
            }
        }
        _ => Decision::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::Decision::*;
    use super::TriggerRule::*;
    use super::*;
    use crate::engine::state::TaskState as S;

    fn d(rule: TriggerRule, states: &[S]) -> Decision {
        decide(rule, Upstream::of(states.iter().copied()))
    }

    #[test]
    fn rules_over_upstream_states() {
        let table: &[(TriggerRule, &[S], Decision)] = &[
            (AllSuccess, &[], Run),
            (AllSuccess, &[S::Success, S::Success], Run),
            (AllSuccess, &[S::Success, S::Running], Wait),
            (AllSuccess, &[S::Failed, S::Running], Wait),
            (AllSuccess, &[S::Success, S::Failed], UpstreamFailed),
            (AllSuccess, &[S::Success, S::UpstreamFailed], UpstreamFailed),
            (AllSuccess, &[S::Success, S::Skipped], Skipped),
            (AllDone, &[S::Failed, S::Skipped], Run),
            (AllDone, &[S::Failed, S::Pending], Wait),
            (AllFailed, &[S::Failed, S::UpstreamFailed], Run),
            (AllFailed, &[S::Failed, S::Success], Skipped),
            (AllFailed, &[S::Failed, S::Queued], Wait),
            (OneSuccess, &[S::Success, S::Running], Run),
            (OneSuccess, &[S::Failed, S::Running], Wait),
            (OneSuccess, &[S::Failed, S::Skipped], UpstreamFailed),
            (OneSuccess, &[S::Skipped, S::Skipped], Skipped),
            (OneFailed, &[S::Failed, S::Running], Run),
            (OneFailed, &[S::Success, S::Success], Skipped),
            (OneFailed, &[S::UpstreamFailed], Run),
            (NoneFailed, &[S::Success, S::Skipped], Run),
            (NoneFailed, &[S::Success, S::Failed], UpstreamFailed),
            (NoneFailed, &[S::Success, S::UpForRetry], Wait),
        ];
        for (rule, states, want) in table {
            assert_eq!(d(*rule, states), *want, "{rule:?} over {states:?}");
        }
    }
}
